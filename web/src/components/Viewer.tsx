// The original (a server-rendered preview with the viewer's window/level and frame) next to the
// processed result of the selected job, side by side or under a slider.
import { useEffect, useMemo, useState } from 'react';
import {
  outputUrl,
  segOutputs,
  previewUrl,
  type Ids,
  type ImageSummary,
  type Job,
  type Window,
} from '../api';
import { useI18n, type MessageKey } from '../i18n';
import { ProgressiveImage } from './ProgressiveImage';

// Window presets in Hounsfield units (center/width), as radiology viewers name them.
export const PRESETS: Record<string, Window | null> = {
  default: null,
  brain: { center: 40, width: 80 },
  soft_tissue: { center: 40, width: 400 },
  lung: { center: -600, width: 1500 },
  bone: { center: 400, width: 1800 },
};

const PREVIEW_SIZE = 1024;

function useDebounced<T>(value: T, ms: number): T {
  const [v, setV] = useState(value);
  useEffect(() => {
    const h = setTimeout(() => setV(value), ms);
    return () => clearTimeout(h);
  }, [value, ms]);
  return v;
}

interface Props {
  ids: Ids | null;
  image: ImageSummary | null;
  seriesImages: ImageSummary[] | null;
  onStep: (imageId: string) => void;
  job: Job | null;
  clientId: string | null;
}

export function Viewer({ ids, image, seriesImages, onStep, job, clientId }: Props) {
  const { t } = useI18n();
  const [preset, setPreset] = useState('default');
  const [custom, setCustom] = useState<Window>({ center: 40, width: 400 });
  const [frame, setFrame] = useState(1);
  const [fit, setFit] = useState(true);
  const [mode, setMode] = useState<'side' | 'slider'>('side');
  const [divide, setDivide] = useState(50);
  const [jobSource, setJobSource] = useState<Ids | null>(null);

  useEffect(() => setFrame(1), [ids?.image_id]);

  const window = preset === 'custom' ? custom : PRESETS[preset];
  const debouncedWindow = useDebounced(window, 150);
  const frames = image?.frames ?? 1;

  // A series or study job's picture is its first image: find which one, to compare like with like.
  useEffect(() => {
    setJobSource(null);
    if (!job || job.status !== 'succeeded') return;
    const base = { study_id: job.study_id, series_id: job.series_id ?? '', scope: 'image' as const };
    if (job.scope === 'image' && job.image_id) {
      setJobSource({ ...base, image_id: job.image_id });
      return;
    }
    if (!job.outputs?.manifest || !clientId) return;
    let live = true;
    fetch(outputUrl(job.outputs.manifest, clientId))
      .then((r) => r.json())
      .then((m: { images: { image_id: string; series_id?: string }[] }) => {
        const first = m.images?.[0];
        if (live && first)
          setJobSource({ ...base, series_id: first.series_id ?? base.series_id, image_id: first.image_id });
      })
      .catch(() => undefined);
    return () => {
      live = false;
    };
  }, [job, clientId]);

  const originalIds = job?.status === 'succeeded' && jobSource ? jobSource : ids;
  const originalSrc = useMemo(
    () =>
      originalIds && originalIds.study_id
        ? previewUrl(originalIds, {
            window: debouncedWindow ?? undefined,
            frame: originalIds === ids ? frame : 1,
            size: PREVIEW_SIZE,
          })
        : null,
    [originalIds, ids, debouncedWindow, frame],
  );
  const processedSrc =
    job?.status === 'succeeded' && job.outputs?.image && clientId
      ? outputUrl(job.outputs.image, clientId)
      : null;

  const index = seriesImages?.findIndex((im) => im.image_id === ids?.image_id) ?? -1;

  return (
    <section className="viewer" aria-label={t('preview.original')}>
      <div className="toolbar row wrap">
        <label>
          {t('wl.preset')}
          <select
            value={preset}
            onChange={(e) => setPreset(e.target.value)}
            data-testid="wl-preset"
          >
            {Object.keys(PRESETS).map((p) => (
              <option key={p} value={p}>
                {t(('wl.' + p) as MessageKey)}
              </option>
            ))}
            <option value="custom">{t('wl.custom')}</option>
          </select>
        </label>
        <label>
          {t('wl.center')}
          <input
            type="number"
            value={window?.center ?? ''}
            placeholder="—"
            step={10}
            onChange={(e) => {
              setCustom({ width: window?.width ?? custom.width, center: Number(e.target.value) });
              setPreset('custom');
            }}
            data-testid="wl-center"
          />
        </label>
        <label>
          {t('wl.width')}
          <input
            type="number"
            min={1}
            value={window?.width ?? ''}
            placeholder="—"
            step={10}
            onChange={(e) => {
              setCustom({
                center: window?.center ?? custom.center,
                width: Math.max(1, Number(e.target.value)),
              });
              setPreset('custom');
            }}
            data-testid="wl-width"
          />
        </label>
        {frames > 1 && (
          <label>
            {t('preview.frame')} {frame}/{frames}
            <input
              type="range"
              min={1}
              max={frames}
              value={frame}
              onChange={(e) => setFrame(Number(e.target.value))}
              data-testid="frame"
            />
          </label>
        )}
        {seriesImages && seriesImages.length > 1 && index >= 0 && (
          <span className="row" role="group" aria-label={t('preview.image_n', { n: index + 1, total: seriesImages.length })}>
            <button
              type="button"
              onClick={() => onStep(seriesImages[index - 1].image_id)}
              disabled={index <= 0}
              aria-label={t('preview.prev_image')}
            >
              ‹
            </button>
            <span className="muted">
              {t('preview.image_n', { n: index + 1, total: seriesImages.length })}
            </span>
            <button
              type="button"
              onClick={() => onStep(seriesImages[index + 1].image_id)}
              disabled={index >= seriesImages.length - 1}
              aria-label={t('preview.next_image')}
            >
              ›
            </button>
          </span>
        )}
        <button type="button" onClick={() => setFit(!fit)} aria-pressed={!fit}>
          {fit ? t('preview.zoom_actual') : t('preview.zoom_fit')}
        </button>
        {processedSrc && (
          <span className="row" role="group" aria-label={t('results.compare')}>
            <button type="button" aria-pressed={mode === 'side'} onClick={() => setMode('side')}>
              {t('results.side_by_side')}
            </button>
            <button
              type="button"
              aria-pressed={mode === 'slider'}
              onClick={() => setMode('slider')}
              data-testid="mode-slider"
            >
              {t('results.slider')}
            </button>
          </span>
        )}
      </div>
      {!originalSrc ? (
        <p className="placeholder">{t('preview.none')}</p>
      ) : mode === 'slider' && processedSrc ? (
        <figure className="compare-slider">
          <div className="stack">
            <ProgressiveImage src={processedSrc} alt={t('results.processed')} fit={fit} />
            <div className="over" style={{ clipPath: `inset(0 ${100 - divide}% 0 0)` }}>
              <ProgressiveImage src={originalSrc} alt={t('preview.original')} fit={fit} />
            </div>
          </div>
          <input
            type="range"
            min={0}
            max={100}
            value={divide}
            onChange={(e) => setDivide(Number(e.target.value))}
            aria-label={t('results.slider_label')}
          />
          <figcaption>
            {t('preview.original')} ◂ ▸ {t('results.processed')}
          </figcaption>
        </figure>
      ) : (
        <div className="side-by-side">
          <figure>
            <figcaption>{t('preview.original')}</figcaption>
            <ProgressiveImage
              src={originalSrc}
              alt={t('preview.original')}
              fit={fit}
              testId="original-image"
            />
          </figure>
          {processedSrc && job && (
            <figure>
              <figcaption>
                {t('results.processed')} · {job.algorithm}
              </figcaption>
              <ProgressiveImage
                src={processedSrc}
                alt={t('results.processed')}
                fit={fit}
                testId="processed-image"
              />
            </figure>
          )}
        </div>
      )}
      {processedSrc && job && clientId && (
        <p className="row wrap downloads">
          <a href={processedSrc} download={`${job.algorithm}-${job.job_id}.png`} data-testid="download-png">
            {t('results.download_png')}
          </a>
          {job.outputs?.dicom && (
            <a
              href={outputUrl(job.outputs.dicom, clientId)}
              download={`${job.algorithm}-${job.job_id}.dcm`}
              data-testid="download-dicom"
            >
              {t('results.download_dicom')}
            </a>
          )}
          {segOutputs(job.outputs).map((seg) => (
            <a
              key={seg.name}
              href={outputUrl(seg.path, clientId)}
              download={`${job.algorithm}-${job.job_id}-${seg.name}.dcm`}
              data-testid="download-seg"
            >
              {seg.n === undefined ? t('results.download_seg') : t('results.download_seg_n', { n: seg.n })}
            </a>
          ))}
        </p>
      )}
    </section>
  );
}
