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
