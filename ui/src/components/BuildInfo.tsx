import type { Build } from '../api.ts';

function show(value: unknown): string {
  return typeof value === 'string' ? value : JSON.stringify(value);
}

/**
 * What a build is of: the commit's message and author (when the controller knows them)
 * and the inputs it was started with. Everything is text from outside: rendered as text.
 */
export function BuildInfo({ build }: { build: Build }) {
  const message = build.commitMessage?.trim() ?? '';
  const [subject = '', ...body] = message.split('\n');
  const inputs = Object.entries(build.inputs ?? {});
  return (
    <section className="build-info" aria-label="Commit and inputs">
      {message && (
        <div className="commit-message">
          <p className="commit-subject">{subject}</p>
          {body.join('\n').trim() && <pre className="commit-body">{body.join('\n').trim()}</pre>}
        </div>
      )}
      {build.commitAuthor && (
        <p className="commit-author">
          by <span>{build.commitAuthor}</span>
        </p>
      )}
      {inputs.length > 0 && (
        <dl className="inputs" aria-label="Inputs">
          {inputs.map(([name, value]) => (
            <div key={name} data-input={name}>
              <dt>{name}</dt>
              <dd>
                <code>{show(value)}</code>
              </dd>
            </div>
          ))}
        </dl>
      )}
    </section>
  );
}
