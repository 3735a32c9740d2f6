/**
 * The VMC's subscriber in a process of its own (forked by arrivals.ts): it stamps each message as
 * it arrives, on the machine's monotonic clock, and hands it to the benchmark over IPC. In the
 * benchmark's own process a stamp waited for whatever the camera was doing then: at one push in
 * flight the next push, built and written as soon as a 200 came, delayed every message that came
 * after its answer by a push's worth of work, and a peer that publishes after answering (the
 * gateway: durable first) looked slower than it was.
 *
 * argv: broker URL, topic filters joined by ",", and a persistent client id or "-".
 */
import mqtt from 'mqtt';

export interface SubscriberMessage {
  topic: string;
  /** A Buffer here; a Uint8Array once it has crossed the IPC channel. */
  payload: Uint8Array;
  /** Milliseconds on the monotonic clock (process.hrtime), the same in every process here. */
  atMonoMs: number;
}

export type SubscriberReport = { ready: true } | { message: SubscriberMessage } | { error: string };

const send = (report: SubscriberReport): void => {
  process.send?.(report);
};

async function main(): Promise<void> {
  const [url, topicList, persistentId] = process.argv.slice(2);
  if (!url || !topicList || !persistentId) throw new Error('usage: subscriber-process URL TOPICS ID|-');
  const persistent = persistentId !== '-';
  const client = await mqtt.connectAsync(url, {
    protocolVersion: 5,
    clientId: persistent ? persistentId : `bench-vmc-${process.pid}-${Math.random().toString(36).slice(2, 8)}`,
    clean: !persistent,
    ...(persistent ? { properties: { sessionExpiryInterval: 3600 } } : {}),
    reconnectPeriod: 200,
  });
  client.on('message', (topic, payload) => {
    const atMonoMs = Number(process.hrtime.bigint()) / 1e6;
    send({ message: { topic, payload, atMonoMs } });
  });
  await client.subscribeAsync(topicList.split(','), { qos: 1 });
  send({ ready: true });
  // Told to stop, it ends its session cleanly (a persistent one stays at the broker).
  process.on('message', () => {
    void client.endAsync().then(() => process.exit(0));
  });
  process.on('disconnect', () => process.exit(0));
}

main().catch((error: unknown) => {
  send({ error: String(error) });
  process.exit(1);
});
