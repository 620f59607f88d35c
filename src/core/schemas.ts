/**
 * Runtime validators for the run-directory records read by the extension, compiled from the shared JSON Schemas (bundled
 * into the extension by esbuild): whole records (samples), and run.json field by field for the lenient reader (readers.ts).
 */
import Ajv, { type ValidateFunction } from 'ajv';
import runSchema from '../../contracts/schemas/run.schema.json';
import samplesSchema from '../../contracts/schemas/sample.schema.json';
import type { SampleRecord } from '../../contracts/run-directory';

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

export const isSampleRecord = guard<SampleRecord>(samplesSchema);

type PropertySchemas = Record<string, object>;
const runProperties = (runSchema as { properties: PropertySchemas }).properties;
const runDefinitions = (runSchema as { definitions?: object }).definitions ?? {};
const fieldGuards = new Map<string, ReturnType<typeof guard<unknown>>>();

/** The run.json fields this editor knows (the run schema's properties). */
export const KNOWN_RUN_FIELDS: readonly string[] = Object.keys(runProperties);

/** One run.json field checked against its own part of the run schema (the lenient reader's unit). */
export function checkRunField(name: string, value: unknown): string | undefined {
  const schema = runProperties[name];
  if (!schema) return undefined;
  let check = fieldGuards.get(name);
  if (!check) {
    check = guard<unknown>({ ...schema, definitions: runDefinitions });
    fieldGuards.set(name, check);
  }
  return check(value) ? undefined : check.errors().replace(/^\(top level\) /, '');
}
