// Inputs for an algorithm's parameters, generated from its JSON schema (see schema.ts).
import type { Field, FieldError } from '../schema';
import { useI18n, type Translate } from '../i18n';

export function errorText(t: Translate, e: FieldError): string {
  switch (e.kind) {
    case 'below':
    case 'above':
      return t(('field.' + e.kind) as 'field.below', { limit: e.limit });
    default:
      return t(('field.' + e.kind) as 'field.required');
  }
}

interface Props {
  fields: Field[];
  values: Record<string, string>;
  errors: Record<string, FieldError>;
  onChange: (name: string, value: string) => void;
}

export function SchemaForm({ fields, values, errors, onChange }: Props) {
  const { t } = useI18n();
  return (
    <div className="params" data-testid="params">
      {fields.map((f) => {
        const id = 'param-' + f.name;
        const error = errors[f.name];
        const common = {
          id,
          name: f.name,
          'aria-invalid': error ? true : undefined,
          'aria-describedby': id + '-help',
        };
        return (
          <div className="field" key={f.name}>
            <label htmlFor={id}>{f.name}</label>
            {f.kind === 'enum' ? (
              <select {...common} value={values[f.name] ?? ''} onChange={(e) => onChange(f.name, e.target.value)}>
                {!f.required && f.defaultValue === '' && <option value="">—</option>}
                {f.options.map((o) => (
                  <option key={o}>{o}</option>
                ))}
              </select>
            ) : f.kind === 'boolean' ? (
              <select {...common} value={values[f.name] ?? ''} onChange={(e) => onChange(f.name, e.target.value)}>
                {f.defaultValue === '' && <option value="">—</option>}
                <option value="true">{t('field.yes')}</option>
                <option value="false">{t('field.no')}</option>
              </select>
            ) : (
              <input
                {...common}
                type={f.kind === 'text' ? 'text' : 'number'}
                inputMode={f.kind === 'integer' ? 'numeric' : f.kind === 'number' ? 'decimal' : undefined}
                step={f.kind === 'integer' ? 1 : 'any'}
                min={f.minimum}
                max={f.maximum}
                value={values[f.name] ?? ''}
                onChange={(e) => onChange(f.name, e.target.value)}
              />
            )}
            <small id={id + '-help'} className={error ? 'error' : 'muted'}>
              {error ? errorText(t, error) : f.description}
            </small>
          </div>
        );
      })}
    </div>
  );
}
