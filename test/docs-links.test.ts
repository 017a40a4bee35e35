/**
 * The README is the front door and docs/ holds the guides (issue 19): every relative link in the
 * project's Markdown files reaches a file that exists and, with a #fragment, a heading of that
 * file (GitHub's anchors); the README stays short, with the two commands first, and links every
 * guide.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { REPO_ROOT } from '../lib/function-catalog';

/** The Markdown files people read: the README, the guides, the trainer's contract, the benches, the changelog. */
function markdownFiles(): string[] {
  const docs = fs
    .readdirSync(path.join(REPO_ROOT, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => path.join('docs', f));
  const others = ['README.md', 'CHANGELOG.md', 'training/README.md', 'bench/README.md', 'test/hostile/README.md'];
  return [...others.filter((f) => fs.existsSync(path.join(REPO_ROOT, f))), ...docs];
}

/** Text outside fenced code blocks (links in code are examples, not links). */
function prose(text: string): string {
  return text.replace(/^```[\s\S]*?^```/gm, '');
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens; repeats get -1, -2... */
export function anchorsOf(text: string): Set<string> {
  const seen = new Map<string, number>();
  const anchors = new Set<string>();
  for (const match of prose(text).matchAll(/^#{1,6}\s+(.+?)\s*#*\s*$/gm)) {
    const base = match[1]
      .toLowerCase()
      .replace(/[^\p{L}\p{N}\s_-]/gu, '')
      .replace(/\s/g, '-');
    const n = seen.get(base) ?? 0;
    seen.set(base, n + 1);
    anchors.add(n === 0 ? base : `${base}-${n}`);
  }
  return anchors;
}

/** Every relative link of a file: `[text](target)`, `![alt](target)` and HTML `src`/`href`, outside code. */
function linksOf(text: string): string[] {
  const body = prose(text);
  const markdown = [...body.matchAll(/!?\[[^\]]*\]\(([^)\s]+)\)/g)].map((m) => m[1]);
  const html = [...body.matchAll(/\b(?:src|href)="([^"]+)"/g)].map((m) => m[1]);
  return [...markdown, ...html].filter((t) => !/^[a-z]+:/i.test(t));
}

test('the anchor rule follows GitHub’s', () => {
  expect([...anchorsOf('# The `mloop` CLI\n## Dataset formats and schema.json\n## Limits\n## Limits\n')]).toEqual([
    'the-mloop-cli',
    'dataset-formats-and-schemajson',
    'limits',
    'limits-1',
  ]);
  expect(anchorsOf('```\n# not a heading\n```\n').size).toBe(0);
});

test.each(markdownFiles())('every relative link of %s reaches a file and a heading that exist', (file) => {
  const text = fs.readFileSync(path.join(REPO_ROOT, file), 'utf8');
  const broken: string[] = [];
  for (const link of linksOf(text)) {
    const [target, fragment] = link.split('#');
    const resolved = target
      ? path.resolve(path.dirname(path.join(REPO_ROOT, file)), decodeURIComponent(target))
      : path.join(REPO_ROOT, file);
    if (!fs.existsSync(resolved)) {
      broken.push(`${link}: no file ${path.relative(REPO_ROOT, resolved)}`);
      continue;
    }
    if (fragment !== undefined && resolved.endsWith('.md') && !anchorsOf(fs.readFileSync(resolved, 'utf8')).has(fragment)) {
      broken.push(`${link}: no heading #${fragment} in ${path.relative(REPO_ROOT, resolved)}`);
    }
  }
  expect(broken).toEqual([]);
});

test('the README is a short front door: the two commands first, every guide linked', () => {
  const readme = fs.readFileSync(path.join(REPO_ROOT, 'README.md'), 'utf8');
  expect(readme.split('\n').length).toBeLessThanOrEqual(200);
  const headings = [...readme.matchAll(/^## (.+)$/gm)].map((m) => m[1]);
  expect(headings[0]).toBe('Two commands');
  expect(readme).toContain('npm ci && npm start');
  expect(readme).toContain('npm ci && npm test');
  const guides = fs.readdirSync(path.join(REPO_ROOT, 'docs')).filter((f) => f.endsWith('.md'));
  expect(guides.length).toBeGreaterThanOrEqual(10);
  for (const guide of guides) expect(readme).toContain(`](docs/${guide}`);
});
