/**
 * The UI's one HTML page: a frame (header, navigation, main) and its style; the script
 * (/ui/app.js) draws every page into <main> from the hash route. Colours are chosen for
 * contrast (text on background at least 4.5:1, WCAG AA), which the browser test checks.
 */
export const PAGE_HTML = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>mloop</title>
<link rel="icon" href="data:,">
<style>
:root { --fg: #1b1f24; --muted: #4a5360; --bg: #ffffff; --panel: #f4f6f8; --line: #d0d7de; --accent: #0b5cad; --bad: #a4161a; --good: #1a6b2f; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
header { display: flex; align-items: center; gap: 24px; padding: 10px 20px; background: #14213d; color: #ffffff; }
header a { color: #ffffff; text-decoration: none; font-weight: 600; }
header nav { display: flex; gap: 16px; }
header .where { margin-left: auto; color: #e6e9ef; font-size: 12px; }
main:focus { outline: none; }
main { padding: 16px 20px 40px; max-width: 1200px; }
h1 { font-size: 20px; margin: 8px 0 12px; }
h2 { font-size: 16px; margin: 24px 0 8px; }
a { color: var(--accent); }
a:focus-visible, button:focus-visible, select:focus-visible, input:focus-visible, textarea:focus-visible { outline: 3px solid #f0a202; outline-offset: 2px; }
table { border-collapse: collapse; width: 100%; margin: 8px 0; }
th, td { text-align: left; padding: 5px 8px; border-bottom: 1px solid var(--line); vertical-align: top; }
th { background: var(--panel); font-weight: 600; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(320px, 1fr)); gap: 12px; }
.card { border: 1px solid var(--line); border-radius: 6px; padding: 12px; background: var(--bg); }
.card h2 { margin-top: 0; }
.muted { color: var(--muted); }
.badge { display: inline-block; padding: 0 6px; border-radius: 10px; background: var(--panel); border: 1px solid var(--line); font-size: 12px; margin-right: 4px; }
.bad { color: var(--bad); font-weight: 600; }
.good { color: var(--good); font-weight: 600; }
.tabs { display: flex; gap: 12px; margin: 4px 0 12px; flex-wrap: wrap; }
.row { display: flex; gap: 16px; flex-wrap: wrap; align-items: flex-start; }
.chart { margin: 8px 0; }
.chart svg { max-width: 100%; height: auto; }
button { font: inherit; padding: 4px 10px; border: 1px solid var(--accent); background: var(--accent); color: #ffffff; border-radius: 4px; cursor: pointer; }
button.secondary { background: var(--bg); color: var(--accent); }
dialog { border: 1px solid var(--line); border-radius: 6px; max-width: 480px; }
dialog textarea { width: 100%; min-height: 60px; font: inherit; }
pre, code { font: 12px/1.4 ui-monospace, SFMono-Regular, Menlo, monospace; }
pre { background: var(--panel); padding: 8px; overflow: auto; }
.error { color: var(--bad); border: 1px solid var(--bad); padding: 8px; border-radius: 4px; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: 2px 12px; margin: 0; }
dt { color: var(--muted); }
dd { margin: 0; word-break: break-all; }
</style>
</head>
<body>
<header>
  <a href="#/">mloop</a>
  <nav aria-label="Main"><a href="#/">Models</a></nav>
  <span class="where" id="where"></span>
</header>
<main id="main" tabindex="-1"><p class="muted">Loading...</p></main>
<script src="/ui/app.js"></script>
</body>
</html>
`;
