// Step 4: every job of this client, newest first, with its status, progress, duration, error and
// the status of each export destination it asked for.
import type { Job } from '../api';
import { useI18n, type MessageKey } from '../i18n';
import { exportText, isTerminal, type JobsState } from '../jobs';

interface Props {
  jobs: JobsState;
  selected: string | null;
  onSelect: (jobId: string) => void;
  onCancel: (jobId: string) => void;
}

export function JobList({ jobs, selected, onSelect, onCancel }: Props) {
  const { t } = useI18n();
  if (jobs.order.length === 0) return <p className="muted">{t('results.none')}</p>;
  return (
    <ul className="jobs" aria-label={t('results.jobs')}>
      {jobs.order.map((id) => (
        <JobRow
          key={id}
          job={jobs.byId[id]}
          selected={id === selected}
          onSelect={() => onSelect(id)}
          onCancel={() => onCancel(id)}
        />
      ))}
    </ul>
  );
}

function JobRow({ job, selected, onSelect, onCancel }: {
  job: Job;
  selected: boolean;
  onSelect: () => void;
  onCancel: () => void;
}) {
  const { t } = useI18n();
  const progress = job.progress && job.progress.total > 1 ? job.progress : null;
  return (
    <li
      className={'job' + (selected ? ' selected' : '')}
      data-testid="job"
      data-job-id={job.job_id}
      data-status={job.status}
    >
      <div className="row wrap">
        <strong>{job.algorithm}</strong>
        <span className={'badge ' + job.status}>
          {t(('results.status.' + job.status) as MessageKey)}
        </span>
        <span className="muted mono" title={job.job_id}>
          {job.job_id.slice(-8)}
        </span>
        {typeof job.duration_ms === 'number' && (
          <span className="muted">{t('results.duration', { ms: job.duration_ms.toFixed(0) })}</span>
        )}
        <span className="spacer" />
        {job.status === 'succeeded' && (
          <button type="button" onClick={onSelect} aria-pressed={selected}>
            {t('results.show')}
          </button>
        )}
        {!isTerminal(job.status) && (
          <button type="button" className="ghost" onClick={onCancel}>
            {t('results.cancel')}
          </button>
        )}
      </div>
      {progress && !isTerminal(job.status) && (
        <progress
          max={progress.total}
          value={progress.done}
          aria-label={t('results.progress', progress)}
        >
          {t('results.progress', progress)}
        </progress>
      )}
      {progress && <small className="muted">{t('results.progress', progress)}</small>}
      {job.exports && job.exports.length > 0 && (
        <ul className="exports" aria-label={t('export.exports')} data-testid="exports">
          {job.exports.map((e) => (
            <li
              key={e.destination}
              className={'export ' + e.status}
              data-testid="export"
              data-destination={e.destination}
              data-status={e.status}
            >
              {exportText(e, t)}
            </li>
          ))}
        </ul>
      )}
      {job.error && (
        <p className="error" data-testid="job-error">
          {t('results.error', { code: job.error.code, message: job.error.message })}
        </p>
      )}
    </li>
  );
}
