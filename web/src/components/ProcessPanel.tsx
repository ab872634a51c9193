// Step 3: choose the algorithm (the seed's processing_1 preselected), set its parameters, pick
// where the result is sent (the configured export destinations, when there are any), start.
import { useEffect, useMemo, useState } from 'react';
import type { Algorithm, Destination } from '../api';
import { useI18n } from '../i18n';
import { checkValues, fieldsOf, initialValues, type FieldError } from '../schema';
import { SchemaForm } from './SchemaForm';

export const DEFAULT_ALGORITHM = 'processing_1';

interface Props {
  algorithms: Algorithm[];
  ready: boolean;
  blocker: string | null; // why processing cannot start yet
  busy: boolean;
  destinations: Destination[];
  onStart: (algorithm: string, params: Record<string, unknown>, exportTo: string[]) => void;
}

export function ProcessPanel({ algorithms, ready, blocker, busy, destinations, onStart }: Props) {
  const { t } = useI18n();
  const [name, setName] = useState(DEFAULT_ALGORITHM);
  const algorithm = algorithms.find((a) => a.name === name) ?? algorithms[0];
  const fields = useMemo(() => fieldsOf(algorithm?.params), [algorithm]);
  const [values, setValues] = useState<Record<string, string>>({});
  const [errors, setErrors] = useState<Record<string, FieldError>>({});
  const [exportTo, setExportTo] = useState<string[]>([]);

  useEffect(() => {
    setValues(initialValues(fields));
    setErrors({});
  }, [fields]);

  return (
    // noValidate: the schema check below reports in the page's language, next to each field.
    <form
      noValidate
      onSubmit={(e) => {
        e.preventDefault();
        if (!algorithm) return;
        const checked = checkValues(fields, values);
        setErrors(checked.errors);
        if (Object.keys(checked.errors).length === 0) {
          // Only names the server still offers, in its order.
          const chosen = destinations.map((d) => d.name).filter((n) => exportTo.includes(n));
          onStart(algorithm.name, checked.params, chosen);
        }
      }}
    >
      <div className="field">
        <label htmlFor="algorithm">{t('process.algorithm')}</label>
        <select id="algorithm" value={algorithm?.name ?? ''} onChange={(e) => setName(e.target.value)}>
          {algorithms.map((a) => (
            <option key={a.name} value={a.name}>
              {a.name}
              {a.alias_of ? ` (${t('process.alias', { name: a.alias_of })})` : ''}
            </option>
          ))}
        </select>
        {algorithm && <small className="muted">{algorithm.description}</small>}
      </div>
      {fields.length > 0 && (
        <fieldset>
          <legend>{t('process.params')}</legend>
          <SchemaForm
            fields={fields}
            values={values}
            errors={errors}
            onChange={(n, v) => setValues((old) => ({ ...old, [n]: v }))}
          />
        </fieldset>
      )}
      {destinations.length > 0 && (
        <fieldset data-testid="export-destinations">
          <legend>{t('export.title')}</legend>
          {destinations.map((d) => (
            <label key={d.name} className="row check">
              <input
                type="checkbox"
                name="export"
                value={d.name}
                checked={exportTo.includes(d.name)}
                onChange={(e) =>
                  setExportTo((old) =>
                    e.target.checked ? [...old.filter((n) => n !== d.name), d.name] : old.filter((n) => n !== d.name),
                  )
                }
              />
              <span>{t('export.destination', { name: d.name, type: d.type })}</span>
            </label>
          ))}
        </fieldset>
      )}
      <button type="submit" className="primary" disabled={!ready || busy || !algorithm}>
        {t('process.start')}
      </button>
      {blocker && <small className="muted block">{blocker}</small>}
    </form>
  );
}
