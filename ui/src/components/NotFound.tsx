/** What a page says when the thing its URL names does not exist (a 404 from the API). */
export function NotFound({ what, detail }: { what: string; detail: string }) {
  return (
    <section className="not-found" aria-labelledby="not-found-title">
      <h1 id="not-found-title">{what} not found</h1>
      <p>{detail}</p>
      <p>
        <a href="#/">Go to the dashboard</a> to see the jobs and builds there are.
      </p>
    </section>
  );
}
