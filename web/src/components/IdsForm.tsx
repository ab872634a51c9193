// The seed's step 1 as it wrote it: type study_id, series_id, image_id and the scope, then
// "Load preview". Or open the study browser to pick them.
import type { Ids, Scope } from '../api';
import { useI18n } from '../i18n';

interface Props {
  ids: Ids;
  onChange: (ids: Ids) => void;
  onLoad: () => void;
  browsing: boolean;
  onToggleBrowse: () => void;
}

export function IdsForm({ ids, onChange, onLoad, browsing, onToggleBrowse }: Props) {
  const { t } = useI18n();
  const set = (patch: Partial<Ids>) => onChange({ ...ids, ...patch });
  return (
    <form
      className="ids"
      onSubmit={(e) => {
        e.preventDefault();
        onLoad();
      }}
    >
      <label>
        {t('ids.study')}
        <input
          name="study_id"
          value={ids.study_id}
          onChange={(e) => set({ study_id: e.target.value.trim() })}
          spellCheck={false}
          autoComplete="off"
          required
        />
      </label>
      <label>
        {t('ids.series')}
        <input
          name="series_id"
          value={ids.series_id}
          onChange={(e) => set({ series_id: e.target.value.trim() })}
          spellCheck={false}
          autoComplete="off"
          required={ids.scope !== 'study'}
        />
      </label>
      <label>
        {t('ids.image')}
        <input
          name="image_id"
          value={ids.image_id}
          onChange={(e) => set({ image_id: e.target.value.trim() })}
          spellCheck={false}
          autoComplete="off"
          required={ids.scope === 'image'}
        />
      </label>
      <label>
        {t('ids.scope')}
        <select name="scope" value={ids.scope} onChange={(e) => set({ scope: e.target.value as Scope })}>
          <option value="image">image · {t('scope.image')}</option>
          <option value="series">series · {t('scope.series')}</option>
          <option value="study">study · {t('scope.study')}</option>
        </select>
      </label>
      <div className="row wrap">
        <button type="submit" className="primary">
          {t('preview.load')}
        </button>
        <button type="button" onClick={onToggleBrowse} aria-expanded={browsing}>
          {t('browse.title')}
        </button>
      </div>
    </form>
  );
}
