import { describe, expect, it } from 'vitest';
import { counted } from './counted.js';

describe('counted', () => {
  it('says one thing in the singular and none or many in the plural', () => {
    expect([0, 1, 2].map((n) => counted(n, 'lane'))).toEqual(['0 lanes', '1 lane', '2 lanes']);
    expect(counted(1, 'secret or TLS file', 'secrets and TLS files')).toBe('1 secret or TLS file');
    expect(counted(3, 'secret or TLS file', 'secrets and TLS files')).toBe('3 secrets and TLS files');
  });
});
