// A parameter form generated from an algorithm's JSON schema (GET /api/algorithms): which input
// each parameter gets, its starting value, and the check of what the user typed. The server
// validates again (400 naming the parameter); this gives the same answer before the round trip.
import type { JsonSchema } from './api';

export type FieldKind = 'number' | 'integer' | 'boolean' | 'enum' | 'text';

export interface Field {
  name: string;
  kind: FieldKind;
  description: string;
  options: string[]; // enum values
  minimum?: number;
  maximum?: number;
  defaultValue: string; // as the input shows it
  required: boolean;
}

export function fieldsOf(schema: JsonSchema | undefined): Field[] {
  const properties = schema?.properties ?? {};
  const required = new Set(schema?.required ?? []);
  return Object.entries(properties).map(([name, p]) => {
    const kind: FieldKind = p.enum
      ? 'enum'
      : p.type === 'integer'
        ? 'integer'
        : p.type === 'number'
          ? 'number'
          : p.type === 'boolean'
            ? 'boolean'
            : 'text';
    return {
      name,
      kind,
      description: p.description ?? '',
      options: (p.enum ?? []).map(String),
      minimum: p.minimum,
      maximum: p.maximum,
      defaultValue: p.default === undefined || p.default === null ? '' : String(p.default),
      required: required.has(name),
    };
  });
}

export function initialValues(fields: Field[]): Record<string, string> {
  return Object.fromEntries(fields.map((f) => [f.name, f.defaultValue]));
}

export type FieldError =
  | { kind: 'required' }
  | { kind: 'not_a_number' }
  | { kind: 'not_an_integer' }
  | { kind: 'below'; limit: number }
  | { kind: 'above'; limit: number }
  | { kind: 'not_an_option' };

export interface Checked {
  params: Record<string, unknown>; // only the values the user set or that have a default
  errors: Record<string, FieldError>;
}

// Turns the form's strings into typed params. An empty optional field is left out, so the server
// applies its default.
export function checkValues(fields: Field[], values: Record<string, string>): Checked {
  const params: Record<string, unknown> = {};
  const errors: Record<string, FieldError> = {};
  for (const f of fields) {
    const raw = (values[f.name] ?? '').trim();
    if (raw === '') {
      if (f.required) errors[f.name] = { kind: 'required' };
      continue;
    }
    switch (f.kind) {
      case 'boolean':
        params[f.name] = raw === 'true';
        break;
      case 'enum':
        if (!f.options.includes(raw)) errors[f.name] = { kind: 'not_an_option' };
        else params[f.name] = raw;
        break;
      case 'text':
        params[f.name] = raw;
        break;
      case 'number':
      case 'integer': {
        const n = Number(raw);
        if (!Number.isFinite(n)) errors[f.name] = { kind: 'not_a_number' };
        else if (f.kind === 'integer' && !Number.isInteger(n))
          errors[f.name] = { kind: 'not_an_integer' };
        else if (f.minimum !== undefined && n < f.minimum)
          errors[f.name] = { kind: 'below', limit: f.minimum };
        else if (f.maximum !== undefined && n > f.maximum)
          errors[f.name] = { kind: 'above', limit: f.maximum };
        else params[f.name] = n;
        break;
      }
    }
  }
  return { params, errors };
}
