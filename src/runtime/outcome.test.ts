import { describe, expect, it } from 'vitest';
import { statusOf } from '../domain/status.ts';
import { OUTCOMES, failureClass } from './outcome.ts';

describe('failure classes', () => {
  it('retries as infra exactly the outcomes a build shows as error', () => {
    for (const outcome of OUTCOMES)
      expect([outcome, statusOf(outcome) === 'error']).toEqual([
        outcome,
        failureClass(outcome) === 'infra',
      ]);
  });
});
