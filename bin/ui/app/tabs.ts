/** The tabs of a model's pages: its versions, datasets, drift and runs. */
import { enc, h, link } from './dom';

const TABS = [
  ['versions', 'Versions', ''],
  ['datasets', 'Datasets', '/datasets'],
  ['drift', 'Drift', '/drift'],
  ['runs', 'Runs', '/runs'],
] as const;

export function modelTabs(model: string, current: (typeof TABS)[number][0]): HTMLElement {
  return h(
    'nav',
    { class: 'tabs', 'aria-label': `Pages of ${model}` },
    link('/', 'All models'),
    TABS.map(([id, label, suffix]) => {
      const a = link(`/models/${enc(model)}${suffix}`, label);
      if (id === current) a.setAttribute('aria-current', 'page');
      return a;
    }),
  );
}
