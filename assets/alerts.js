/* Alerts page, clientside: a chime for each new critical alert on an operator's console.
   The wall never loads the Alerts page, so it never chimes (no one there to silence it).
   `window.cityopsAlertChimes` counts chimes, so a test can see one happened without speakers. */
window.dash_clientside = window.dash_clientside || {};
window.dash_clientside.alerts = {
  chime: function (delta, seen) {
    const known = new Set(seen || []);
    const changes = (delta && delta.changes) || {};
    let fresh = 0;
    Object.keys(changes).forEach(function (id) {
      const a = changes[id] || {};
      if (a.severity === "critical" && a.state === "open" && !known.has(id)) { fresh += 1; }
      known.add(id);
    });
    if (fresh) {
      window.cityopsAlertChimes = (window.cityopsAlertChimes || 0) + fresh;
      try {
        const Ctx = window.AudioContext || window.webkitAudioContext;
        const ctx = window.cityopsAudio = window.cityopsAudio || new Ctx();
        [0, 0.25].forEach(function (at) {
          const osc = ctx.createOscillator(); const gain = ctx.createGain();
          osc.frequency.value = 880; gain.gain.value = 0.2;
          osc.connect(gain); gain.connect(ctx.destination);
          osc.start(ctx.currentTime + at); osc.stop(ctx.currentTime + at + 0.18);
        });
      } catch (e) { /* no audio device: the banner and the row colour still show it */ }
    }
    return Array.from(known).slice(-2000);
  },
};
