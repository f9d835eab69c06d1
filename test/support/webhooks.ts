/**
 * Webhook deliveries for replay tests: fixture files (test/fixtures/webhooks/, modelled on
 * the forges' published examples) with their placeholders filled in, encoded as the forge
 * sends them (JSON, or GitHub's form encoding) and signed with the job's secret.
 */
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

const DIR = join(import.meta.dirname, '..', 'fixtures', 'webhooks');

export type Forge = 'github' | 'gitlab' | 'gitea';

/** A delivery ready to send: headers (signed) and the raw body. */
export interface SignedDelivery {
  headers: Record<string, string>;
  payload: string;
}

/** Loads `forge/name.json`, fills `{{NAME}}` from `vars`, encodes and signs it. */
export function delivery(
  forge: Forge,
  name: string,
  vars: Record<string, string>,
  secret: string,
): SignedDelivery {
  const text = readFileSync(join(DIR, forge, `${name}.json`), 'utf8').replace(
    /\{\{([A-Z_]+)\}\}/g,
    (whole, key: string) => {
      const value = vars[key];
      if (value === undefined) throw new Error(`${forge}/${name}.json needs {{${key}}}`);
      return value;
    },
  );
  const fixture = JSON.parse(text) as { headers: Record<string, string>; body: unknown };
  const json = JSON.stringify(fixture.body);
  const headers = { ...fixture.headers };
  const payload =
    headers['content-type'] === 'application/x-www-form-urlencoded'
      ? new URLSearchParams({ payload: json }).toString()
      : json;
  const hmac = (algorithm: string): string =>
    createHmac(algorithm, secret).update(payload).digest('hex');
  switch (forge) {
    case 'github':
      headers['x-hub-signature'] = `sha1=${hmac('sha1')}`;
      headers['x-hub-signature-256'] = `sha256=${hmac('sha256')}`;
      break;
    case 'gitea':
      headers['x-gitea-signature'] = hmac('sha256');
      headers['x-gogs-signature'] = hmac('sha256');
      break;
    case 'gitlab':
      headers['x-gitlab-token'] = secret;
      break;
  }
  return { headers, payload };
}
