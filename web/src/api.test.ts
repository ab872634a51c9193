import { describe, expect, it } from 'vitest';
import { outputUrl, previewUrl, processBody, segOutputs, studySearchParams } from './api';

describe('api helpers', () => {
  it('builds the seed preview call with window, frame and size', () => {
    const ids = { study_id: '1.2', series_id: '1.3', image_id: '1.4', scope: 'image' as const };
    expect(previewUrl(ids, {})).toBe('/pacs/preview?study_id=1.2&series_id=1.3&image_id=1.4&scope=image');
    expect(previewUrl(ids, { window: { center: -600.4, width: 1500 }, frame: 3, size: 1024 })).toBe(
      '/pacs/preview?study_id=1.2&series_id=1.3&image_id=1.4&scope=image&wc=-600&ww=1500&frame=3&size=1024',
    );
    expect(previewUrl({ ...ids, image_id: '', scope: 'series' }, { frame: 1 })).toBe(
      '/pacs/preview?study_id=1.2&series_id=1.3&scope=series',
    );
  });

  it('searches names with wildcards and ids as ids', () => {
    expect(studySearchParams({ patient: 'smith' })).toMatchObject({ patient_name: '*smith*', patient_id: undefined });
    expect(studySearchParams({ patient: 'IMG-0002' })).toMatchObject({ patient_id: '*IMG-0002*', patient_name: undefined });
    expect(studySearchParams({ patient: 'DOE*' })).toMatchObject({ patient_name: 'DOE*' });
    expect(studySearchParams({ date: '2024-03-11', modality: 'CT' })).toMatchObject({ study_date: '20240311', modality: 'CT' });
  });

  it('appends the client id to output URLs', () => {
    expect(outputUrl('/api/results/j/image.png', 'a+b')).toBe('/api/results/j/image.png?client_id=a%2Bb');
  });

  it('asks for exports in the process body only when some are chosen', () => {
    const ids = { study_id: '1.2', series_id: '1.3', image_id: '1.4', scope: 'image' as const };
    expect(processBody(ids, { k: 1 }, 'c')).toEqual({
      study_id: '1.2', series_id: '1.3', image_id: '1.4', scope: 'image', params: { k: 1 }, client_id: 'c',
    });
    expect(processBody(ids, {}, 'c', [])).not.toHaveProperty('export');
    expect(processBody({ ...ids, scope: 'study' }, {}, 'c', ['pacs', 'web'])).toEqual({
      study_id: '1.2', scope: 'study', params: {}, client_id: 'c', export: ['pacs', 'web'],
    });
  });

  it('finds the DICOM SEG outputs, study jobs in series order', () => {
    expect(segOutputs(undefined)).toEqual([]);
    expect(segOutputs({ image: '/a/image.png', dicom: '/a/result.dcm', mask: '/a/mask.png' })).toEqual([]);
    expect(segOutputs({ dicom: '/a/result.dcm', seg: '/a/seg.dcm' })).toEqual([{ name: 'seg', path: '/a/seg.dcm' }]);
    expect(
      segOutputs({ 'seg-10': '/a/seg-10.dcm', 'seg-2': '/a/seg-2.dcm', 'seg-1': '/a/seg-1.dcm', segment: '/x' }).map((s) => s.n),
    ).toEqual([1, 2, 10]);
  });
});
