import { describe, expect, it } from 'vitest';
import { resolveSecret } from './secrets.js';

const sources = (env: Record<string, string>, files: Record<string, string> = {}) => ({
  env,
  readFile: (path: string) => {
    const content = files[path];
    if (content === undefined) throw new Error(`ENOENT ${path}`);
    return content;
  },
});

describe('secrets', () => {
  it('resolves inline, environment and file secrets', () => {
    expect(resolveSecret('s3cret', 'x', sources({}))).toBe('s3cret');
    expect(resolveSecret({ env: 'PW' }, 'x', sources({ PW: 'from-env' }))).toBe('from-env');
    expect(resolveSecret({ file: '/run/pw' }, 'x', sources({}, { '/run/pw': 'from-file\n' }))).toBe('from-file');
  });

  it('names the config path and the missing variable or file', () => {
    expect(() => resolveSecret({ env: 'NOPE' }, 'uplink.password', sources({}))).toThrow('uplink.password: environment variable NOPE is not set');
    expect(() => resolveSecret({ file: '/run/none' }, 'uplink.tls.key', sources({}))).toThrow('uplink.tls.key: cannot read secret file /run/none');
  });
});
