// An <img> that never blanks or blocks: the picture on screen stays until the next one has fully
// loaded (fetched and decoded off the main thread), a small indicator shows while it loads, and a
// failure is reported beside the last good picture.
import { useEffect, useRef, useState } from 'react';
import { useI18n } from '../i18n';

interface Props {
  src: string | null;
  alt: string;
  fit: boolean;
  testId?: string;
  onError?: (message: string) => void;
  style?: React.CSSProperties;
}

export function ProgressiveImage({ src, alt, fit, testId, onError, style }: Props) {
  const { t } = useI18n();
  const [shown, setShown] = useState<string | null>(null);
  const [loading, setLoading] = useState(false);
  const [failed, setFailed] = useState<string | null>(null);
  const latest = useRef<string | null>(null);

  useEffect(() => {
    latest.current = src;
    if (!src) {
      setShown(null);
      setLoading(false);
      setFailed(null);
      return;
    }
    setLoading(true);
    setFailed(null);
    const img = new Image();
    img.decoding = 'async';
    img.src = src;
    img
      .decode()
      .then(() => {
        if (latest.current !== src) return;
        setShown(src);
        setLoading(false);
      })
      .catch(async () => {
        if (latest.current !== src) return;
        setLoading(false);
        const message = await explainFailure(src);
        setFailed(message);
        onError?.(message);
      });
  }, [src, onError]);

  return (
    <div className={'image-frame' + (fit ? ' fit' : ' actual')} aria-busy={loading}>
      {shown && (
        <img src={shown} alt={alt} data-testid={testId} data-src={shown} style={style} />
      )}
      {loading && (
        <div className="image-status" role="status">
          <span className="spinner" aria-hidden="true" /> {t('preview.loading')}
        </div>
      )}
      {failed && (
        <div className="image-status error" role="alert">
          {t('preview.failed', { message: failed })}
        </div>
      )}
    </div>
  );
}

// An <img> cannot read the error body: fetch it once to show the server's own message.
async function explainFailure(src: string): Promise<string> {
  try {
    const response = await fetch(src);
    const body = await response.json().catch(() => null);
    return body?.error?.message ?? `${response.status} ${response.statusText}`;
  } catch (e) {
    return e instanceof Error ? e.message : String(e);
  }
}
