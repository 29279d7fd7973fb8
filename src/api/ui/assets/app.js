// The dashboard's only script. It keeps the page live by fetching it again every
// data-refresh-ms milliseconds and swapping in its <main id="live"> (a part marked
// data-keep stays as it is); a livelesson page instead follows its progress stream (an
// EventSource on data-progress) until its final event, refreshes once, then polls. It asks for
// confirmation before an action form is sent, and drops the one-off ?notice= from the
// address so that a reload does not repeat it. Without it every page still works,
// only without live updates and confirmations.
(function () {
  'use strict';

  var status = document.getElementById('live-status');
  var main = document.getElementById('live');
  var period = main ? Number(main.getAttribute('data-refresh-ms')) : 0;
  var busy = false;
  // True while a progress stream keeps the page live instead of polling.
  var streaming = false;

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
        current.querySelectorAll('[data-keep][id]').forEach(function (kept) {
          var slot = fresh.querySelector('#' + kept.id);
          if (slot) slot.replaceWith(kept);
        });
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

  function follow(panel) {
    var bar = document.getElementById('progress-bar');
    var message = document.getElementById('progress-message');
    var steps = document.getElementById('progress-steps');
    var source = new window.EventSource(panel.getAttribute('data-progress'));
    streaming = true;
    source.onmessage = function (event) {
      var data = JSON.parse(event.data);
      bar.value = data.progress;
      message.textContent = data.message;
      // A reconnected stream repeats the steps already shown.
      if (data.step && !steps.querySelector('li[data-step="' + window.CSS.escape(data.step) + '"]')) {
        var item = document.createElement('li');
        item.setAttribute('data-step', data.step);
        item.textContent = data.message;
        steps.appendChild(item);
      }
      if (data.ready || data.failed) {
        source.close();
        panel.setAttribute('data-outcome', data.ready ? 'ready' : (data.stopped ? 'stopped' : 'failed'));
        streaming = false;
        refresh();
      }
    };
    source.onerror = function () {
      // Closed for good (the lab is gone): back to polling. Otherwise it reconnects.
      if (source.readyState === window.EventSource.CLOSED) {
        streaming = false;
        message.textContent = 'Progress stream closed.';
      }
    };
  }

  var progressPanel = document.querySelector('[data-progress]');
  if (progressPanel && window.EventSource) follow(progressPanel);

  if (period > 0) {
    window.setInterval(function () {
      if (!streaming) refresh();
    }, period);
    document.addEventListener('visibilitychange', function () {
      if (!document.hidden && !streaming) refresh();
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
