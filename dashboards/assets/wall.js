/* Acknowledge buttons of the wall: one listener for every .ack-button (feed items are re-rendered every few
   seconds, so per-button callbacks would be lost) and for #takeover-ack. The click hands the alert id to the
   Dash store "ack-request"; the server callback acknowledges it as the signed-in user. */
(function () {
  document.addEventListener('click', function (event) {
    const target = event.target instanceof Element ? event.target : null;
    if (!target || !window.dash_clientside || !window.dash_clientside.set_props) { return; }
    let alertId = null;
    const button = target.closest('.ack-button');
    if (button) {
      alertId = button.getAttribute('data-alert-id');
    } else if (target.closest('#takeover-ack')) {
      alertId = window.iocTakeoverAlert || null;
    }
    if (!alertId) { return; }
    event.preventDefault();
    if (button) { button.disabled = true; }
    window.dash_clientside.set_props('ack-request', {data: {alert_id: alertId, at: Date.now()}});
  });
})();

/* The alert detail (dashboards/wall_detail.py): a click on a .detail-button, or on a feed item outside its
   buttons, hands the alert id to the store "detail-request"; #detail-close empties it. The action buttons
   of the panel hand their action to the store "detail-action"; the server runs it as the signed-in user. */
(function () {
  const ACTIONS = {'detail-assign': 'assign', 'detail-note': 'note', 'detail-resolve': 'resolve'};
  document.addEventListener('click', function (event) {
    const target = event.target instanceof Element ? event.target : null;
    if (!target || !window.dash_clientside || !window.dash_clientside.set_props) { return; }
    const set = window.dash_clientside.set_props;
    const action = target.closest('#detail-assign, #detail-note, #detail-resolve');
    if (action) {
      event.preventDefault();
      set('detail-action', {data: {action: ACTIONS[action.id], at: Date.now()}});
      return;
    }
    if (target.closest('#detail-close')) {
      set('detail-request', {data: {alert_id: null, at: Date.now()}});
      return;
    }
    if (target.closest('.ack-button')) { return; }
    const opener = target.closest('.detail-button') || target.closest('.alert[data-alert-id]');
    if (!opener) { return; }
    const alertId = opener.getAttribute('data-alert-id');
    if (!alertId) { return; }
    event.preventDefault();
    set('detail-request', {data: {alert_id: alertId, at: Date.now()}});
  });
  document.addEventListener('keydown', function (event) {
    if (event.key !== 'Escape' || !window.dash_clientside || !window.dash_clientside.set_props) { return; }
    const panel = document.getElementById('detail');
    if (panel && !panel.classList.contains('hidden')) {
      window.dash_clientside.set_props('detail-request', {data: {alert_id: null, at: Date.now()}});
    }
  });
})();
