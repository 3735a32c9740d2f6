import { describe, expect, it } from 'vitest';
import { DEMO_CONFIG_FILE } from '../demo/run-demo.js';
import { defaultDemoDataDir } from './demo-command.js';

describe('the demo command', () => {
  it('keeps each demo post in a data directory of its own unless told', () => {
    expect(defaultDemoDataDir(undefined)).toBe('data/demo');
    expect(defaultDemoDataDir(DEMO_CONFIG_FILE)).toBe('data/demo');
    expect(defaultDemoDataDir('config/examples/demo-four-lane.yaml')).toBe('data/demo-four-lane');
    expect(defaultDemoDataDir('/etc/border/lane-test.yml')).toBe('data/demo-lane-test');
  });
});
