import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['**/*.test.ts'],
    exclude: ['node_modules/**', 'dist/**', 'dist-bench/**', 'scratch/**'],
    // System tests start brokers and child processes; they wait on events, never on sleeps,
    // but a real process start on a loaded 2-core machine can take seconds.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // expect.poll waits for a page or a process to catch up (an event it cannot subscribe to);
    // its default of one second failed a browser test on a loaded machine.
    expect: { poll: { timeout: 15_000 } },
    pool: 'forks',
  },
});
