import { describe, expect, it } from 'vitest';
import { detectLang, dictionaries, translator } from './i18n';

describe('i18n', () => {
  it('translates every string into Italian, with the same placeholders', () => {
    const placeholders = (s: string) => [...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]).sort();
    for (const [key, english] of Object.entries(dictionaries.en)) {
      const italian = dictionaries.it[key as keyof typeof dictionaries.en];
      expect(italian, key).toBeTruthy();
      expect(placeholders(italian), key).toEqual(placeholders(english));
    }
    expect(Object.keys(dictionaries.it).sort()).toEqual(Object.keys(dictionaries.en).sort());
  });

  it("keeps the seed's words", () => {
    const t = translator('it');
    expect(t('preview.load')).toBe('Carica Anteprima');
    expect(t('client.provision')).toBe('Provisiona client');
    expect(t('process.start')).toBe('Avvia processing');
  });

  it('follows the browser unless the user chose', () => {
    expect(detectLang(null, ['it-IT', 'en'])).toBe('it');
    expect(detectLang(null, ['de-DE', 'en-GB'])).toBe('en');
    expect(detectLang(null, ['fr'])).toBe('en');
    expect(detectLang('en', ['it-IT'])).toBe('en');
    expect(detectLang('xx', ['it'])).toBe('it');
  });

  it('fills placeholders', () => {
    expect(translator('en')('results.progress', { done: 3, total: 40 })).toBe('3 of 40');
    expect(translator('it')('results.progress', { done: 3, total: 40 })).toBe('3 di 40');
  });
});
