import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { tempDir } from '../../test/helpers/test-config.js';
import { DEMO_CONFIG_FILE } from '../demo/run-demo.js';
import { defaultDemoDataDir } from './demo-command.js';

describe('the demo command', () => {
  it('keeps each demo post in a data directory of its own unless told', () => {
    expect(defaultDemoDataDir(undefined)).toBe('data/demo');
    expect(defaultDemoDataDir(DEMO_CONFIG_FILE)).toBe('data/demo');
    expect(defaultDemoDataDir('config/examples/demo-four-lane.yaml')).toBe('data/demo-four-lane');
    expect(defaultDemoDataDir('config/examples/four-lane-post.yaml')).toMatch(/^data\/demo-[a-z0-9-]+$/);
    // Two posts' files of the same name: each its own directory.
    const [a, b] = ['post-a', 'post-b'].map((id) => {
      const file = join(tempDir(), 'post.yaml');
      writeFileSync(file, readFileSync('config/examples/demo-post.yaml', 'utf8').replace(/^( {2}id: )demo-post$/m, `$1${id}`));
      return defaultDemoDataDir(file);
    });
    expect([a, b]).toEqual(['data/demo-post-a', 'data/demo-post-b']);
  });
});
