// Pick an image by browsing instead of typing UIDs: search studies by patient, date and modality
// (GET /pacs/studies), open a study to see its series, a series to see its images. Studies of the
// upstream PACS carry a "remote" badge; when the upstream did not answer, the server's warning
// shows above the (local) list without blocking it.
import { useCallback, useEffect, useState } from 'react';
import { api, type Ids, type Series, type Source, type Study, type StudySummary } from '../api';
import { useI18n } from '../i18n';
import { pageInfo } from '../paging';

const MODALITIES = ['CT', 'MR', 'DX', 'CR', 'US', 'PT', 'NM', 'MG', 'XA', 'OT'];
export const PAGE_SIZE = 25;

function RemoteBadge({ source }: { source?: Source }) {
  const { t } = useI18n();
  if (source !== 'upstream') return null;
  return (
    <span className="badge remote" title={t('browse.remote_title')} data-testid="remote">
      {t('browse.remote')}
    </span>
  );
}

export function StudyBrowser({ onPick }: { onPick: (ids: Ids) => void }) {
  const { t } = useI18n();
  const [patient, setPatient] = useState('');
  const [date, setDate] = useState('');
  const [modality, setModality] = useState('');
  const [studies, setStudies] = useState<StudySummary[] | null>(null);
  const [total, setTotal] = useState(0);
  const [offset, setOffset] = useState(0);
  const [warning, setWarning] = useState<string | null>(null);
  const [study, setStudy] = useState<Study | null>(null);
  const [series, setSeries] = useState<Series | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const run = useCallback(async <T,>(work: () => Promise<T>): Promise<T | undefined> => {
    setBusy(true);
    setError(null);
    try {
      return await work();
    } catch (e) {
      setError(e instanceof Error ? e.message : String(e));
      return undefined;
    } finally {
      setBusy(false);
    }
  }, []);

  const search = useCallback(
    (at = 0) =>
      run(async () => {
        const r = await api.studies({ patient, date, modality, limit: PAGE_SIZE, offset: at });
        setStudies(r.studies);
        setTotal(r.total);
        setOffset(at);
        setWarning(r.warning || null);
        setStudy(null);
        setSeries(null);
      }),
    [run, patient, date, modality],
  );
  const page = studies
    ? pageInfo({ offset, limit: PAGE_SIZE, count: studies.length, total })
    : null;

  useEffect(() => {
    void search();
    // Only the first list loads by itself; later searches are asked for.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);

  const openStudy = (s: StudySummary) =>
    run(async () => {
      const full = await api.study(s.study_id);
      setStudy(full);
      setSeries(null);
      if (full.series.length === 1) setSeries(await api.series(full.study_id, full.series[0].series_id));
    });

  return (
    <div className="browser" data-testid="browser">
      <form
        className="row wrap"
        onSubmit={(e) => {
          e.preventDefault();
          void search();
        }}
      >
        <label>
          {t('browse.patient')}
          <input value={patient} onChange={(e) => setPatient(e.target.value)} name="patient" />
        </label>
        <label>
          {t('browse.date')}
          <input type="date" value={date} onChange={(e) => setDate(e.target.value)} name="date" />
        </label>
        <label>
          {t('browse.modality')}
          <select value={modality} onChange={(e) => setModality(e.target.value)} name="modality">
            <option value="">{t('browse.any')}</option>
            {MODALITIES.map((m) => (
              <option key={m}>{m}</option>
            ))}
          </select>
        </label>
        <button type="submit" disabled={busy}>
          {t('browse.search')}
        </button>
      </form>
      {error && (
        <p className="error" role="alert">
          {t('error.generic', { message: error })}
        </p>
      )}
      {warning && (
        <p className="notice" role="status" data-testid="pacs-warning">
          {t('browse.warning', { message: warning })}
        </p>
      )}
      {!study && studies && page && (
        <>
          <p className="muted" data-testid="study-count">
            {page.totalKnown
              ? t('browse.count', { total })
              : `${t('browse.page', { from: page.from, to: page.to })}${page.hasNext ? ' · ' + t('browse.more') : ''}`}
          </p>
          {studies.length === 0 ? (
            <p>{t('browse.none')}</p>
          ) : (
            <ul className="pick-list" aria-label={t('browse.title')}>
              {studies.map((s) => (
                <li key={s.study_id}>
                  <button type="button" className="pick" onClick={() => void openStudy(s)}>
                    <strong>{formatName(s.patient_name)}</strong> <span>{s.patient_id}</span>
                    <span>{formatDate(s.study_date)}</span>
                    <span className="tag">{s.modalities.join(', ')}</span>
                    <span className="muted">{s.description}</span>
                    <span className="muted">{t('browse.images', { n: s.image_count })}</span>
                    <RemoteBadge source={s.source} />
                  </button>
                </li>
              ))}
            </ul>
          )}
          {(page.hasPrev || page.hasNext) && (
            <p className="row wrap">
              <button
                type="button"
                disabled={busy || !page.hasPrev}
                onClick={() => void search(Math.max(0, offset - PAGE_SIZE))}
              >
                ← {t('browse.prev')}
              </button>
              <button
                type="button"
                disabled={busy || !page.hasNext}
                onClick={() => void search(offset + PAGE_SIZE)}
                data-testid="studies-next"
              >
                {t('browse.next')} →
              </button>
            </p>
          )}
        </>
      )}
      {study && (
        <div>
          <button type="button" className="ghost" onClick={() => setStudy(null)}>
            ← {t('browse.back')}
          </button>
          <p>
            <strong>{formatName(study.patient_name)}</strong> · {formatDate(study.study_date)} ·{' '}
            {study.description} <RemoteBadge source={study.source} />
          </p>
          <ul className="pick-list" aria-label={t('browse.series', { n: study.series.length })}>
            {study.series.map((se) => (
              <li key={se.series_id}>
                <button
                  type="button"
                  className={'pick' + (series?.series_id === se.series_id ? ' selected' : '')}
                  aria-pressed={series?.series_id === se.series_id}
                  onClick={() => void run(async () => setSeries(await api.series(study.study_id, se.series_id)))}
                >
                  <span className="tag">{se.modality}</span> {se.description || se.series_id}
                  <span className="muted">{t('browse.images', { n: se.image_count })}</span>
                </button>
              </li>
            ))}
          </ul>
          {series && (
            <ol className="image-grid" aria-label={t('browse.images', { n: series.images.length })}>
              {series.images.map((im, i) => (
                <li key={im.image_id}>
                  <button
                    type="button"
                    className="pick small"
                    title={t('browse.pick')}
                    data-testid="pick-image"
                    onClick={() =>
                      onPick({
                        study_id: study.study_id,
                        series_id: series.series_id,
                        image_id: im.image_id,
                        scope: 'image',
                      })
                    }
                  >
                    {im.instance_number ?? i + 1}
                  </button>
                </li>
              ))}
            </ol>
          )}
        </div>
      )}
    </div>
  );
}

export function formatName(dicomName: string): string {
  const [family, given, middle] = (dicomName ?? '').split('^');
  return [family, [given, middle].filter(Boolean).join(' ')].filter(Boolean).join(', ');
}

export function formatDate(da: string): string {
  return /^\d{8}$/.test(da ?? '') ? `${da.slice(0, 4)}-${da.slice(4, 6)}-${da.slice(6)}` : da ?? '';
}
