// mxroute console: navigation with the bearer token, live fleet updates
// from GET /events, and drain actions. Pages are rendered by the server and
// readable without this file.
(function () {
  'use strict';
  var KEY = 'mxroute-token';
  var stream = null; // AbortController of the open event stream

  function token() { return sessionStorage.getItem(KEY) || ''; }
  function headers(extra) {
    var h = extra || {};
    if (token()) { h.Authorization = 'Bearer ' + token(); }
    return h;
  }
  function page() { var m = document.getElementById('main'); return m ? m.dataset.page : ''; }

  // navigate fetches a console page with the token and swaps it in.
  function navigate(url, how) {
    return fetch(url, { headers: headers() }).then(function (res) {
      return res.text().then(function (html) {
        var doc = new DOMParser().parseFromString(html, 'text/html');
        var main = doc.getElementById('main');
        if (res.status === 401 && token() && main && main.dataset.page === 'login') {
          sessionStorage.removeItem(KEY); // rejected: ask again
        }
        stopStream();
        document.title = doc.title;
        document.body.replaceWith(doc.body);
        if (how === 'push') { history.pushState({}, '', res.url); }
        if (how === 'replace') { history.replaceState({}, '', res.url); }
        init();
      });
    });
  }

  function sameConsole(u) {
    return u.origin === location.origin && u.pathname.indexOf('/ui/') === 0 && u.pathname.indexOf('/ui/static/') !== 0;
  }

  document.addEventListener('click', function (e) {
    var a = e.target.closest ? e.target.closest('a[href]') : null;
    if (!a || !token() || e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) { return; }
    var u = new URL(a.href, location.href);
    if (!sameConsole(u)) { return; }
    e.preventDefault();
    navigate(u.href, 'push');
  });

  document.addEventListener('submit', function (e) {
    var f = e.target;
    if (f.id === 'login') {
      e.preventDefault();
      sessionStorage.setItem(KEY, document.getElementById('token').value.trim());
      navigate(location.href.replace(/[?&]login=basic/, ''), 'replace');
      return;
    }
    if (f.id === 'drain') { e.preventDefault(); drain(f); return; }
    if (!token() || (f.method || 'get').toLowerCase() !== 'get') { return; }
    var u = new URL(f.getAttribute('action') || location.pathname, location.href);
    if (!sameConsole(u)) { return; }
    e.preventDefault();
    u.search = new URLSearchParams(new FormData(f)).toString();
    navigate(u.href, 'push');
  });

  window.addEventListener('popstate', function () { navigate(location.href); });

  // --- actions -----------------------------------------------------------

  function result(text, ok) {
    var p = document.getElementById('action-result');
    if (p) { p.textContent = text; p.className = ok ? 'good' : 'bad'; }
  }

  function act(method, path, body) {
    var init = { method: method, headers: headers({ 'Content-Type': 'application/json' }) };
    if (body) { init.body = JSON.stringify(body); }
    return fetch(path, init).then(function (res) {
      return res.json().catch(function () { return {}; }).then(function (j) {
        if (!res.ok) { throw new Error((j.title || res.status) + (j.detail ? ': ' + j.detail : '')); }
        return j;
      });
    });
  }

  function drain(f) {
    var addr = document.getElementById('actions').dataset.address;
    var secs = parseInt(f.amount.value, 10) * parseInt(f.unit.value, 10);
    var body = { duration_seconds: secs };
    if (f.reason.value) { body.reason = f.reason.value; }
    act('POST', '/hosts/' + encodeURIComponent(addr) + '/drain', body).then(function (h) {
      result('Drained until ' + h.until, true);
      return navigate(location.href);
    }).catch(function (err) { result(err.message, false); });
  }

  function undrain() {
    var addr = document.getElementById('actions').dataset.address;
    act('DELETE', '/hosts/' + encodeURIComponent(addr) + '/drain').then(function () {
      return navigate(location.href);
    }).catch(function (err) { result(err.message, false); });
  }

  // --- live fleet ----------------------------------------------------------

  function stopStream() {
    if (stream) { stream.abort(); stream = null; }
  }

  var refreshing = false, again = false;
  function refreshFleet() {
    if (refreshing) { again = true; return; }
    refreshing = true;
    fetch(location.href, { headers: headers() }).then(function (res) { return res.text(); }).then(function (html) {
      var doc = new DOMParser().parseFromString(html, 'text/html');
      ['fleet', 'count-demoted', 'count-drained'].forEach(function (id) {
        var now = document.getElementById(id), next = doc.getElementById(id);
        if (now && next) { now.replaceWith(next); }
      });
    }).finally(function () {
      refreshing = false;
      if (again) { again = false; refreshFleet(); }
    });
  }

  function liveText(text, ok) {
    var p = document.getElementById('live');
    if (!p) { return; }
    p.hidden = false;
    p.classList.toggle('off', !ok);
    document.getElementById('live-text').textContent = text;
  }

  // startStream reads GET /events with fetch (EventSource cannot send the
  // Authorization header) and refreshes the table on each transition.
  function startStream(lastID) {
    var ctl = new AbortController();
    stream = ctl;
    var h = headers({ Accept: 'text/event-stream' });
    if (lastID) { h['Last-Event-ID'] = lastID; }
    fetch('/events', { headers: h, signal: ctl.signal }).then(function (res) {
      if (!res.ok || !res.body) {
        // 429 (this client's streams) and 503 (the replica's) say when to
        // come back; retrying sooner would only be refused again.
        var e = new Error('events: ' + res.status);
        e.retryAfter = parseInt(res.headers.get('Retry-After'), 10);
        throw e;
      }
      liveText('live', true);
      var reader = res.body.getReader(), dec = new TextDecoder(), buf = '';
      function pump() {
        return reader.read().then(function (r) {
          if (r.done) { throw new Error('stream ended'); }
          buf += dec.decode(r.value, { stream: true });
          var i;
          while ((i = buf.indexOf('\n\n')) >= 0) {
            handle(buf.slice(0, i));
            buf = buf.slice(i + 2);
          }
          return pump();
        });
      }
      function handle(block) {
        var ev = { data: '' };
        block.split('\n').forEach(function (line) {
          if (line.indexOf('id: ') === 0) { lastID = line.slice(4); }
          if (line.indexOf('event: ') === 0) { ev.type = line.slice(7); }
          if (line.indexOf('data: ') === 0) { ev.data += line.slice(6); }
        });
        if (ev.type !== 'transition') { return; }
        var t = JSON.parse(ev.data);
        liveText(t.address + ' ' + t.kind + ' at ' + new Date(t.at).toLocaleTimeString(), true);
        refreshFleet();
      }
      return pump();
    }).catch(function (err) {
      // The server also ends a stream at the end of its lifetime: resume
      // from lastID like after any other end.
      if (ctl.signal.aborted) { return; }
      liveText('reconnecting…', false);
      var wait = err && err.retryAfter > 0 ? err.retryAfter * 1000 : 2000;
      setTimeout(function () { if (stream === ctl) { startStream(lastID); } }, wait);
    });
  }

  // --- page set-up ---------------------------------------------------------

  function init() {
    var s = document.getElementById('session');
    if (s) { s.hidden = !token(); }
    var out = document.getElementById('signout');
    if (out) {
      out.addEventListener('click', function () { sessionStorage.removeItem(KEY); location.href = '/ui/'; });
    }
    var lf = document.getElementById('login');
    if (lf) { lf.hidden = false; } // without JavaScript the form could not keep the token
    var u = document.getElementById('undrain');
    if (u) { u.addEventListener('click', undrain); }
    if (page() === 'login' && token()) { navigate(location.href.replace(/[?&]login=basic/, ''), 'replace'); return; }
    if (page() === 'fleet') { startStream(''); }
  }

  init();
}());
