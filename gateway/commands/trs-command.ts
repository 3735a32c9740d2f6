/**
 * `border-gateway trs report`: the Time Release Study indicators of crossing.completed events
 * from a JSON-lines file, an outbox database or a broker subscription (docs/operations.md).
 */
import { parseForm, selectForm, unknownForm } from '../../core/command-line.js';
import { EXIT_CODES, GatewayError } from '../../core/errors.js';
import { crossingRecord, trsReportOf } from '../../contract/trs-report.js';
import { brokerUrlOption, numberOption } from '../cli-args.js';
import { emptyOutboxNote, outboxCounts, readJsonLines, readOutbox, subscribe } from '../trs/event-sources.js';
import { formatCsv, formatJson, formatTable } from '../trs/format-report.js';
import { TRS, TRS_REPORT_FORM } from './command-specs.js';

/** `--protocol-version`: 5 unless 4 is asked for. */
function protocolVersionOption(value: string | undefined): 4 | 5 {
  if (value === undefined || value === '5') return 5;
  if (value === '4') return 4;
  throw new GatewayError('GW_ERR_CLI_USAGE', `--protocol-version must be 5 or 4, got "${value}"`);
}

export async function trsCommand(args: string[]): Promise<number> {
  const selected = selectForm(TRS, args);
  if (selected?.form !== TRS_REPORT_FORM) throw unknownForm(TRS, args);
  const { values } = parseForm(TRS_REPORT_FORM, selected.rest);
  const sources = [values.input, values.outbox, values.mqtt].filter((v) => v !== undefined);
  if (sources.length !== 1) throw new GatewayError('GW_ERR_CLI_USAGE', 'trs report needs exactly one of --input FILE, --outbox DB, --mqtt URL');
  const format = values.format ?? 'table';
  if (!['table', 'csv', 'json'].includes(format)) throw new GatewayError('GW_ERR_CLI_USAGE', `--format must be table, csv or json, got "${format}"`);
  const interval = numberOption(values.interval, 'interval', 10);
  if (!(interval > 0)) throw new GatewayError('GW_ERR_CLI_USAGE', '--interval must be > 0');
  // Folded as read: a day's recording, an outbox or a subscription of any length never sits in memory as records.
  const records = values.input
    ? readJsonLines(values.input, crossingRecord)
    : values.outbox
      ? readOutbox(values.outbox, crossingRecord)
      : subscribe(brokerUrlOption(values.mqtt) as string, values.topic ?? 'border/#', numberOption(values.duration, 'duration', 10), crossingRecord, protocolVersionOption(values['protocol-version']));
  const report = await trsReportOf(records, interval);
  if (values.outbox !== undefined && report.vehicles === 0) {
    // The table would say "Vehicles: 0" and nothing else; JSON and CSV keep their shape for scripts.
    const note = emptyOutboxNote(values.outbox, outboxCounts(values.outbox));
    if (format === 'table') {
      process.stdout.write(`${note}\n`);
      return EXIT_CODES.ok;
    }
    process.stderr.write(`${note}\n`);
  }
  process.stdout.write(format === 'json' ? formatJson(report) : format === 'csv' ? formatCsv(report) : formatTable(report));
  return EXIT_CODES.ok;
}
