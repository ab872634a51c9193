// The seed's page, step for step: (1) preview an image from the PACS, (2) provision a client,
// (3) start processing, (4) see the result pushed over the WebSocket next to the original.
import { useCallback, useEffect, useMemo, useRef, useState } from 'react';
import {
  api,
  ApiError,
  type Algorithm,
  type Destination,
  type Ids,
  type ImageSummary,
} from './api';
import { credentials } from './credentials';
import { detectLang, I18nContext, LANGS, translator, type Lang } from './i18n';
import { applyEvent, emptyJobs, mergeJob, mergeJobs, type JobsState } from './jobs';
import { PushClient, wsUrl, type PushStatus } from './push';
import { keys, storage } from './storage';
import { ConnectionIndicator } from './components/ConnectionIndicator';
import { IdsForm } from './components/IdsForm';
import { JobList } from './components/JobList';
import { ProcessPanel } from './components/ProcessPanel';
import { RulesPanel } from './components/RulesPanel';
import { SignInPanel, SignOutButton } from './components/SignIn';
import { StudyBrowser } from './components/StudyBrowser';
import { Toasts, type Toast } from './components/Toasts';
import { Viewer } from './components/Viewer';

// How long the socket may be down before the page says so and polls /api/jobs instead.
const OFFLINE_AFTER_MS = 4000;
const POLL_INTERVAL_MS = 3000;

const emptyIds: Ids = { study_id: '', series_id: '', image_id: '', scope: 'image' };

function loadIds(): Ids {
  try {
    return { ...emptyIds, ...JSON.parse(storage.get(keys.ids) ?? '{}') };
  } catch {
    return emptyIds;
  }
}

// A random Idempotency-Key; crypto.randomUUID exists only on secure origins, getRandomValues
// everywhere.
function newKey(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

export function App() {
  const [lang, setLang] = useState<Lang>(() =>
    detectLang(storage.get(keys.lang), navigator.languages ?? [navigator.language]),
  );
  const i18n = useMemo(() => ({ lang, t: translator(lang) }), [lang]);
  const { t } = i18n;
  useEffect(() => {
    document.documentElement.lang = lang;
  }, [lang]);

  const [toasts, setToasts] = useState<Toast[]>([]);
  const showToast = useCallback((toast: Toast) => {
    setToasts((old) => [...old.filter((x) => x.id !== toast.id), toast]);
  }, []);
  const dismissToast = useCallback((id: string) => {
    setToasts((old) => old.filter((x) => x.id !== id));
  }, []);

  // Credentials: asked for once the server refuses a request for want of an API key or JWT
  // (the reason is the server's message).
  const [authRequired, setAuthRequired] = useState<string | null>(null);
  useEffect(() => credentials.onRequired(setAuthRequired), []);

  // (1) the image
  const [ids, setIds] = useState<Ids>(loadIds);
  const [loaded, setLoaded] = useState<Ids | null>(null);
  const [image, setImage] = useState<ImageSummary | null>(null);
  const [seriesImages, setSeriesImages] = useState<ImageSummary[] | null>(null);
  const [browsing, setBrowsing] = useState(false);

  const loadPreview = useCallback(
    (next: Ids) => {
      setIds(next);
      storage.set(keys.ids, JSON.stringify(next));
      setLoaded({ ...next });
      setImage(null);
      if (next.scope === 'image' && next.image_id && next.series_id) {
        api.image(next).then(setImage, () => setImage(null));
      }
      if (next.series_id) {
        api.series(next.study_id, next.series_id).then(
          (s) => setSeriesImages(s.images),
          () => setSeriesImages(null),
        );
      } else {
        setSeriesImages(null);
      }
    },
    [],
  );

  // (2) the client
  const [clientId, setClientId] = useState<string | null>(() => storage.get(keys.clientId));
  const [provisioning, setProvisioning] = useState(false);
  const provision = async () => {
    setProvisioning(true);
    try {
      const id = await api.provision();
      storage.set(keys.clientId, id);
      setClientId(id);
      dismissToast('client');
    } catch (e) {
      showToast({ id: 'provision', kind: 'error', text: t('error.generic', { message: String((e as Error).message) }) });
    } finally {
      setProvisioning(false);
    }
  };
  const forgetClient = useCallback(() => {
    storage.set(keys.clientId, null);
    setClientId(null);
  }, []);

  // (3) processing
  const [algorithms, setAlgorithms] = useState<Algorithm[]>([]);
  useEffect(() => {
    api.algorithms().then(setAlgorithms, (e: Error) => {
      // A 401 already asks for a credential (the sign-in panel).
      if (e instanceof ApiError && e.status === 401) return;
      showToast({ id: 'algorithms', kind: 'error', text: t('error.generic', { message: e.message }) });
    });
    // Loaded once; the list does not change while the page is open.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, []);
  // Export destinations: an empty list (none configured, or a server without exports) hides the
  // choice.
  const [destinations, setDestinations] = useState<Destination[]>([]);
  useEffect(() => {
    api.destinations().then(setDestinations, () => setDestinations([]));
  }, []);
  const [jobs, setJobs] = useState<JobsState>(emptyJobs);
  const [selected, setSelected] = useState<string | null>(null);
  const [follow, setFollow] = useState<string | null>(null); // the job whose result is awaited
  const [submitting, setSubmitting] = useState(false);
  const algorithmNames = useRef<Record<string, string>>({});
  const detailsAsked = useRef<Set<string>>(new Set());

  const start = async (algorithm: string, params: Record<string, unknown>, exportTo: string[]) => {
    if (!clientId) return;
    setSubmitting(true);
    try {
      const source = ids; // what the form says, as the seed's POST sends it
      const r = await api.process(algorithm, source, params, clientId, newKey(), exportTo);
      algorithmNames.current[r.job_id] = algorithm;
      setFollow(r.job_id);
      setJobs((s) =>
        mergeJob(s, {
          job_id: r.job_id,
          algorithm,
          status: r.status,
          study_id: source.study_id,
          series_id: source.series_id,
          image_id: source.scope === 'image' ? source.image_id : null,
          scope: source.scope,
          created_at_ms: Date.now(),
          exports: exportTo.map((destination) => ({ destination, status: 'waiting' })),
        }),
      );
    } catch (e) {
      if (e instanceof ApiError && e.status === 401) {
        // An unknown client, or no valid credential: a call that needs only the credential
        // tells them apart (its own 401 asks for one).
        api.algorithms().then(clientUnknown, () => undefined);
      } else {
        showToast({ id: 'process', kind: 'error', text: t('process.rejected', { message: (e as Error).message }) });
      }
    } finally {
      setSubmitting(false);
    }
  };

  const cancel = (jobId: string) => {
    if (!clientId) return;
    api.cancel(clientId, jobId).then(
      (job) => setJobs((s) => mergeJob(s, job)),
      (e: Error) => showToast({ id: 'cancel', kind: 'error', text: t('error.generic', { message: e.message }) }),
    );
  };

  const clientUnknown = () => {
    showToast({ id: 'client', kind: 'error', text: t('client.unknown') });
    forgetClient();
  };

  // The followed job's picture replaces the last one as soon as it succeeds, whichever path
  // (socket or poll) brought the news.
  useEffect(() => {
    if (!follow) return;
    const job = jobs.byId[follow];
    if (job?.status === 'succeeded') {
      setSelected(follow);
      setFollow(null);
    } else if (job && (job.status === 'failed' || job.status === 'cancelled')) {
      setFollow(null);
    }
  }, [jobs, follow]);

  // (4) the live connection, and the jobs it reports on
  const [push, setPush] = useState<PushStatus>({
    state: 'stopped',
    attempt: 0,
    downSinceMs: null,
    everOpened: false,
    nextRetryMs: null,
  });
  const pushRef = useRef<PushClient | null>(null);
  const [now, setNow] = useState(() => Date.now());

  useEffect(() => {
    setJobs(emptyJobs);
    setSelected(null);
    if (!clientId) return;
    api.jobs(clientId).then(
      (list) => setJobs((s) => mergeJobs(s, list)),
      (e) => {
        if (e instanceof ApiError && e.status === 401) clientUnknown();
      },
    );
    const client = new PushClient({
      url: (lastSeq) => wsUrl(window.location, clientId, lastSeq),
      lastSeq: Number(storage.get(keys.lastSeq(clientId)) ?? 0) || 0,
      onLastSeq: (seq) => storage.set(keys.lastSeq(clientId), String(seq)),
      onStatus: setPush,
      onEvent: (event) => {
        setJobs((s) => applyEvent(s, event));
        // A job this page did not start (a subscribed rule's): its details, once.
        if (!(event.job_id in algorithmNames.current) && !detailsAsked.current.has(event.job_id)) {
          detailsAsked.current.add(event.job_id);
          api.job(clientId, event.job_id).then(
            (job) => setJobs((s) => mergeJob(s, job)),
            () => detailsAsked.current.delete(event.job_id),
          );
        }
        if (event.type !== 'result') return;
        const name = String(event.algorithm ?? algorithmNames.current[event.job_id] ?? '');
        if (event.status === 'failed') {
          const message = (event.error as { message?: string } | undefined)?.message ?? '';
          showToast({ id: 'job-' + event.job_id, kind: 'error', text: t('toast.result_failed', { algorithm: name, message }) });
        }
      },
    });
    pushRef.current = client;
    client.start();
    return () => {
      client.stop();
      pushRef.current = null;
    };
    // t and the toast helpers are stable enough: a language switch must not reconnect.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [clientId]);

  const down = push.state !== 'open' && push.downSinceMs !== null;
  useEffect(() => {
    if (!down) return;
    const h = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(h);
  }, [down]);
  const offline = !!clientId && down && now - (push.downSinceMs ?? now) >= OFFLINE_AFTER_MS;

  useEffect(() => {
    if (!offline) {
      dismissToast('conn');
      return;
    }
    showToast({
      id: 'conn',
      kind: 'error',
      text: push.everOpened ? t('toast.ws_lost') : t('toast.ws_failed'),
      action: { label: t('toast.retry'), run: () => pushRef.current?.retryNow() },
    });
  }, [offline, push.everOpened, t, showToast, dismissToast]);

  // The fallback: while the socket is down, poll the job list so results still appear.
  useEffect(() => {
    if (!offline || !clientId) return;
    const poll = () =>
      api.jobs(clientId).then(
        (list) => setJobs((s) => mergeJobs(s, list)),
        (e) => {
          if (e instanceof ApiError && e.status === 401) clientUnknown();
        },
      );
    void poll();
    const h = setInterval(poll, POLL_INTERVAL_MS);
    return () => clearInterval(h);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [offline, clientId]);

  const selectedJob = selected ? (jobs.byId[selected] ?? null) : null;
  const blocker = !clientId
    ? t('process.needs_client')
    : !ids.study_id
      ? t('process.needs_image')
      : null;

  return (
    <I18nContext.Provider value={i18n}>
      <header className="top">
        <div>
          <h1>{t('app.title')}</h1>
          <p className="muted">{t('app.subtitle')}</p>
        </div>
        <span className="spacer" />
        {clientId && <ConnectionIndicator state={push.state} polling={offline} />}
        <SignOutButton />
        <label className="lang">
          <span className="sr-only">{t('lang.label')}</span>
          <select
            value={lang}
            onChange={(e) => {
              const l = e.target.value as Lang;
              storage.set(keys.lang, l);
              setLang(l);
            }}
            aria-label={t('lang.label')}
            data-testid="lang"
          >
            {LANGS.map((l) => (
              <option key={l} value={l}>
                {l === 'en' ? 'English' : 'Italiano'}
              </option>
            ))}
          </select>
        </label>
      </header>
      {authRequired !== null && <SignInPanel reason={authRequired} />}
      <main className="layout">
        <div className="controls">
          <section aria-labelledby="step-image" className="card">
            <h2 id="step-image">{t('step.image')}</h2>
            <IdsForm
              ids={ids}
              onChange={setIds}
              onLoad={() => loadPreview(ids)}
              browsing={browsing}
              onToggleBrowse={() => setBrowsing(!browsing)}
            />
            {browsing && (
              <StudyBrowser
                onPick={(picked) => {
                  loadPreview(picked);
                  setBrowsing(false);
                }}
              />
            )}
          </section>
          <section aria-labelledby="step-client" className="card">
            <h2 id="step-client">{t('step.client')}</h2>
            {clientId ? (
              <p className="row wrap">
                <span>{t('client.id')}:</span>
                <code data-testid="client-id">{clientId}</code>
                <button type="button" className="ghost" onClick={forgetClient}>
                  {t('client.forget')}
                </button>
              </p>
            ) : (
              <p className="muted">{t('client.none')}</p>
            )}
            <button type="button" onClick={provision} disabled={provisioning}>
              {t('client.provision')}
            </button>
          </section>
          <section aria-labelledby="step-rules" className="card" data-testid="rules-panel">
            <h2 id="step-rules">{t('rules.title')}</h2>
            <RulesPanel
              clientId={clientId}
              onError={(message) =>
                showToast({ id: 'rules', kind: 'error', text: t('error.generic', { message }) })
              }
            />
          </section>
          <section aria-labelledby="step-process" className="card">
            <h2 id="step-process">{t('step.process')}</h2>
            <ProcessPanel
              algorithms={algorithms}
              ready={!blocker}
              blocker={blocker}
              busy={submitting}
              destinations={destinations}
              onStart={start}
            />
          </section>
        </div>
        <div className="display">
          <section className="card">
            <Viewer
              ids={loaded}
              image={image}
              seriesImages={seriesImages}
              onStep={(imageId) => loadPreview({ ...(loaded ?? ids), image_id: imageId, scope: 'image' })}
              job={selectedJob}
              clientId={clientId}
            />
          </section>
          <section aria-labelledby="step-results" className="card">
            <h2 id="step-results">{t('step.results')}</h2>
            <JobList jobs={jobs} selected={selected} onSelect={setSelected} onCancel={cancel} />
          </section>
        </div>
      </main>
      <Toasts toasts={toasts} dismiss={dismissToast} />
    </I18nContext.Provider>
  );
}
