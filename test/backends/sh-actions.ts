/** Contract actions as sh scripts (busybox and Debian sh alike). */
import type { Action } from './contract.ts';

/** A distinctive sleep so leftover step processes can be counted. */
export const SLEEPER = 'sleep 987';

const quote = (text: string): string => `'${text.replace(/'/g, `'\\''`)}'`;

export function shScript(actions: Action[]): string {
  return actions
    .map((a): string => {
      switch (a.do) {
        case 'echo':
          return `echo ${quote(a.text)}`;
        case 'echo-err':
          return `echo ${quote(a.text)} >&2`;
        case 'exit':
          return `exit ${a.code}`;
        case 'env':
          return `printf '%s\\n' "$${a.name}"`;
        case 'pwd':
          return 'pwd';
        case 'write':
          return `printf %s ${quote(a.text)} > ${quote(a.path)}`;
        case 'cat':
          return `cat ${quote(a.path)}`;
        case 'bytes': {
          // 256 bytes 0..255, doubled to 1 MiB, then repeated: no tool beyond sh, printf, cat.
          const mib = Math.floor(a.count / (1024 * 1024));
          return [
            `printf "$(i=0; while [ $i -lt 256 ]; do printf '\\\\%03o' $i; i=$((i+1)); done)" > .b0`,
            'k=0; while [ $k -lt 12 ]; do cat .b0 .b0 > .b1; mv .b1 .b0; k=$((k+1)); done',
            `n=0; while [ $n -lt ${mib} ]; do cat .b0; n=$((n+1)); done`,
            'rm -f .b0',
          ].join('; ');
        }
        case 'wait-for-term':
          return a.trap
            ? `trap 'echo got TERM; exit 143' TERM; ${SLEEPER} & ${SLEEPER} & wait`
            : `trap '' TERM; ${SLEEPER} & ${SLEEPER} & wait`;
      }
    })
    .join('\n');
}
