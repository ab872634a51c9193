// Step 3: choose the algorithm (the seed's processing_1 preselected), set its parameters, start.
import { useEffect, useMemo, useState } from 'react';
import type { Algorithm } from '../api';
import { useI18n } from '../i18n';
import { checkValues, fieldsOf, initialValues, type FieldError } from '../schema';
import { SchemaForm } from './SchemaForm';

export const DEFAULT_ALGORITHM = 'processing_1';

interface Props {
  algorithms: Algorithm[];
  ready: boolean;
  blocker: string | null; // why processing cannot start yet
  busy: boolean;
  onStart: (algorithm: string, params: Record<string, unknown>) => void;
}

export function ProcessPanel({ algorithms, ready, blocker, busy, onStart }: Props) {
  const { t } = useI18n();
  const [name, setName] = useState(DEFAULT_ALGORITHM);
  const algorithm = algorithms.find((a) => a.name === name) ?? algorithms[0];
  const fields = useMemo(() => fieldsOf(algorithm?.params), [algorithm]);
  const [values, setValues] = useState<Record<string, string>>({});
  const [errors, setErrors] = useState<Record<string, FieldError>>({});

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
        if (Object.keys(checked.errors).length === 0) onStart(algorithm.name, checked.params);
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
      <button type="submit" className="primary" disabled={!ready || busy || !algorithm}>
        {t('process.start')}
      </button>
      {blocker && <small className="muted block">{blocker}</small>}
    </form>
  );
}
