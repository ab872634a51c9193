import { describe, expect, it } from 'vitest';
import { checkValues, fieldsOf, initialValues } from './schema';

// denoise's schema as GET /api/algorithms serves it.
const denoise = {
  type: 'object',
  properties: {
    method: { type: 'string', default: 'gaussian', enum: ['gaussian', 'median', 'bilateral'] },
    sigma: { type: 'number', default: 1.0, minimum: 0.1, maximum: 20.0, description: 'std dev' },
    kernel_size: { type: 'integer', default: 3, minimum: 3, maximum: 11 },
    shift: { type: 'boolean', default: false },
    label: { type: 'string' },
  },
  required: ['label'],
};

describe('schema form', () => {
  it('gives each parameter its input and default', () => {
    const fields = fieldsOf(denoise);
    expect(fields.map((f) => [f.name, f.kind])).toEqual([
      ['method', 'enum'],
      ['sigma', 'number'],
      ['kernel_size', 'integer'],
      ['shift', 'boolean'],
      ['label', 'text'],
    ]);
    expect(initialValues(fields)).toEqual({
      method: 'gaussian',
      sigma: '1',
      kernel_size: '3',
      shift: 'false',
      label: '',
    });
    expect(fields[1]).toMatchObject({ minimum: 0.1, maximum: 20, description: 'std dev' });
    expect(fields[4].required).toBe(true);
  });

  it('turns the inputs into typed params', () => {
    const fields = fieldsOf(denoise);
    const r = checkValues(fields, { method: 'median', sigma: ' 2.5 ', kernel_size: '5', shift: 'true', label: 'x' });
    expect(r.errors).toEqual({});
    expect(r.params).toEqual({ method: 'median', sigma: 2.5, kernel_size: 5, shift: true, label: 'x' });
  });

  it('leaves empty optional fields to the server default', () => {
    const r = checkValues(fieldsOf(denoise), { sigma: '', label: 'x' });
    expect(r.params).toEqual({ label: 'x' });
  });

  it('names what is wrong with each field', () => {
    const r = checkValues(fieldsOf(denoise), {
      method: 'box',
      sigma: '25',
      kernel_size: '4.5',
      label: '',
    });
    expect(r.errors).toEqual({
      method: { kind: 'not_an_option' },
      sigma: { kind: 'above', limit: 20 },
      kernel_size: { kind: 'not_an_integer' },
      label: { kind: 'required' },
    });
    expect(checkValues(fieldsOf(denoise), { sigma: '0.05', label: 'x' }).errors).toEqual({
      sigma: { kind: 'below', limit: 0.1 },
    });
    expect(checkValues(fieldsOf(denoise), { sigma: 'abc', label: 'x' }).errors).toEqual({
      sigma: { kind: 'not_a_number' },
    });
  });

  it('copes with an algorithm without parameters', () => {
    expect(fieldsOf(undefined)).toEqual([]);
    expect(fieldsOf({ type: 'object' })).toEqual([]);
  });
});
