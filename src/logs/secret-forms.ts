/**
 * Which secret values can be masked, and every byte form a value can leak as in a log:
 * the value itself, its encodings (base64, URL and form encoding, JSON, hex) and, for a
 * multi-line value, each of its lines and its other line-ending variant.
 */

/** Secrets shorter than this are not masked: masking "a" or "1" would destroy the log. */
export const MIN_SECRET_LENGTH = 4;
const MIN_LINE_LENGTH = 6;

/** Splits secret values into the ones that will be masked and the ones that cannot be. */
export function maskableSecrets(values: readonly string[]): {
  masked: string[];
  ignored: { value: string; reason: string }[];
} {
  const masked: string[] = [];
  const ignored: { value: string; reason: string }[] = [];
  for (const value of new Set(values)) {
    if (value.length === 0) continue;
    if (Buffer.byteLength(value) < MIN_SECRET_LENGTH) {
      ignored.push({
        value,
        reason: `a ${value.length}-character secret is too short to mask (at least ${MIN_SECRET_LENGTH}) without destroying the log`,
      });
    } else masked.push(value);
  }
  return { masked, ignored };
}

/**
 * One warning per named secret too short to be masked. It names the secret, never its
 * value: the operator learns which one to lengthen, and the warning itself leaks nothing.
 */
export function shortSecretWarnings(secrets: Readonly<Record<string, string>>): string[] {
  return Object.entries(secrets)
    .filter(([, value]) => value.length > 0 && Buffer.byteLength(value) < MIN_SECRET_LENGTH)
    .map(
      ([name]) =>
        `secret ${name} is shorter than ${MIN_SECRET_LENGTH} characters, so it is NOT masked in build logs (masking so short a value would destroy them); use a longer value`,
    );
}

/** `%XX` escapes in lower case: what many encoders other than JavaScript's write. */
const lowerEscapes = (text: string): string =>
  text.replace(/%[0-9A-F]{2}/g, (escape) => escape.toLowerCase());

/** JSON string escapes as an encoder that escapes `/` and every non-ASCII character writes them. */
function jsonForms(text: string): string[] {
  const json = JSON.stringify(text).slice(1, -1);
  const ascii = json.replace(
    /[\u0080-\uffff]/g,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
  return [json, json.replace(/\//g, '\\/'), ascii, ascii.replace(/\//g, '\\/')];
}

/** Every byte pattern a secret can leak as. */
export function secretPatterns(values: readonly string[]): Buffer[] {
  const patterns = new Set<string>();
  const add = (text: string): void => {
    if (Buffer.byteLength(text) >= MIN_SECRET_LENGTH) patterns.add(text);
  };
  for (const value of maskableSecrets(values).masked) {
    const forms = new Set([value]);
    if (value.includes('\n')) {
      forms.add(
        value.includes('\r\n') ? value.replace(/\r\n/g, '\n') : value.replace(/\n/g, '\r\n'),
      );
      for (const line of value.split(/\r?\n/)) if (line.trim().length >= MIN_LINE_LENGTH) add(line);
    }
    for (const form of forms) {
      add(form);
      const bytes = Buffer.from(form);
      const b64 = bytes.toString('base64');
      add(b64);
      add(b64.replace(/=+$/, ''));
      const b64url = bytes.toString('base64url');
      add(b64url);
      add(b64url + '='.repeat((4 - (b64url.length % 4)) % 4));
      const url = encodeURIComponent(form);
      const formEncoded = new URLSearchParams([['v', form]]).toString().slice(2);
      for (const encoded of [url, url.replace(/%20/g, '+'), formEncoded]) {
        add(encoded);
        add(lowerEscapes(encoded));
      }
      for (const json of jsonForms(form)) add(json);
      const hex = bytes.toString('hex');
      add(hex);
      add(hex.toUpperCase());
    }
  }
  return [...patterns].map((p) => Buffer.from(p));
}
