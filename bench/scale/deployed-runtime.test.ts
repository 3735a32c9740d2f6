import { describe, expect, it } from 'vitest';
import { deployedRuntime } from './deployed-runtime.js';

describe('deployedRuntime', () => {
  it('takes NODE_OPTIONS apart into flags and keeps the other variables', () => {
    const unit = ['[Service]', 'Environment=NODE_ENV=production', 'Environment="NODE_OPTIONS=--max-old-space-size=96 --max-semi-space-size=2"', 'EnvironmentFile=-/etc/x.env', 'Environment=ORT_DISABLE_TELEMETRY=1'].join('\n');
    expect(deployedRuntime(unit)).toEqual({ nodeFlags: ['--max-old-space-size=96', '--max-semi-space-size=2'], env: { NODE_ENV: 'production', ORT_DISABLE_TELEMETRY: '1' } });
  });

  it("adds the node flags of ExecStart, up to the script, after NODE_OPTIONS's", () => {
    const unit = ['[Service]', 'Environment="NODE_OPTIONS=--max-old-space-size=96"', 'ExecStart=/usr/bin/node --no-sparkplug /opt/x/cli.js run --config /etc/x.yaml'].join('\n');
    expect(deployedRuntime(unit).nodeFlags).toEqual(['--max-old-space-size=96', '--no-sparkplug']);
  });

  it('reads the unit the package ships, which caps the heap and turns the baseline compiler off', () => {
    expect(deployedRuntime().nodeFlags.some((flag) => flag.startsWith('--max-old-space-size='))).toBe(true);
    expect(deployedRuntime().nodeFlags).toContain('--no-sparkplug');
  });
});
