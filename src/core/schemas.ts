/**
 * Runtime validators for the run-directory records read by the extension, compiled from the shared JSON Schemas (bundled
 * into the extension by esbuild). Every record read from disk passes through one of these.
 */
import Ajv, { type ValidateFunction } from 'ajv';
import metricsSchema from '../../contracts/schemas/metrics.schema.json';
import runSchema from '../../contracts/schemas/run.schema.json';
import samplesSchema from '../../contracts/schemas/sample.schema.json';
import type { MetricRecord, RunMeta, SampleRecord } from '../../contracts/run-directory';

let ajv: Ajv | undefined;

/** Validators compile on first use, not at activation (compiling all four schemas takes tens of ms). */
function guard<T>(schema: object): ((value: unknown) => value is T) & { errors: () => string } {
  let compiled: ValidateFunction | undefined;
  const validate = (): ValidateFunction => {
    ajv ??= new Ajv({ allErrors: true, strict: false });
    compiled ??= ajv.compile(schema);
    return compiled;
  };
  const check = ((value: unknown): value is T => validate()(value) === true) as ((value: unknown) => value is T) & {
    errors: () => string;
  };
  check.errors = () => (validate().errors ?? []).map((e) => `${e.instancePath || '(top level)'} ${e.message ?? ''}`).join('; ');
  return check;
}

export const isRunMeta = guard<RunMeta>(runSchema);
export const isMetricRecord = guard<MetricRecord>(metricsSchema);
export const isSampleRecord = guard<SampleRecord>(samplesSchema);
