// The dashboard's only script. It keeps the page live by fetching it again every
// data-refresh-ms milliseconds and swapping in its <main id="live">, asks for
// confirmation before an action form is sent, and drops the one-off ?notice= from the
// address so that a reload does not repeat it. Without it every page still works,
// only without live updates and confirmations.
(function () {
  'use strict';

  var status = document.getElementById('live-status');
  var main = document.getElementById('live');
  var period = main ? Number(main.getAttribute('data-refresh-ms')) : 0;
  var busy = false;

  function show(text, stale) {
    if (!status) return;
    status.textContent = text;
    status.classList.toggle('stale', stale);
  }

  function refresh() {
    if (busy || document.hidden) return;
    busy = true;
    fetch(window.location.href, {
      headers: { 'X-Dashboard-Refresh': '1' },
      credentials: 'same-origin',
      cache: 'no-store'
    }).then(function (response) {
      if (response.status === 401) {
        // Signed out or expired: the reload lands on the sign-in page.
        window.location.reload();
        return null;
      }
      if (!response.ok) {
        show('updates failing (' + response.status + ')', true);
        return null;
      }
      return response.text();
    }).then(function (html) {
      if (html === null) return;
      var fresh = new DOMParser().parseFromString(html, 'text/html').getElementById('live');
      var current = document.getElementById('live');
      if (fresh && current) {
        current.replaceWith(document.adoptNode(fresh));
        show('live', false);
        document.dispatchEvent(new CustomEvent('dashboard:refreshed'));
      }
    }).catch(function () {
      show('updates paused: server unreachable', true);
    }).then(function () {
      busy = false;
    });
  }

  if (period > 0) {
    window.setInterval(refresh, period);
    document.addEventListener('visibilitychange', function () {
      if (!document.hidden) refresh();
    });
  }

  document.addEventListener('submit', function (event) {
    var question = event.target.getAttribute && event.target.getAttribute('data-confirm');
    if (question && !window.confirm(question)) {
      event.preventDefault();
    }
  });

  if (window.location.search.indexOf('notice=') !== -1 && window.history.replaceState) {
    var url = new URL(window.location.href);
    url.searchParams.delete('notice');
    window.history.replaceState(null, '', url.pathname + url.search + url.hash);
  }
})();
