/* CityOps browser side: map styling, live deltas, clock, connection state and data ages.
 *
 * Hot paths live here so that a live update restyles only the features that changed: the map
 * layers register each feature's Leaflet layer by entity id (`onEachFeature`), the latest wire
 * state per domain sits in `cityops.state`, and a delta calls `setStyle` on the changed layers
 * only (canvas renderer: one redraw per frame, no layer rebuild). Classes and colours come from
 * the server's wire state ([class, value, time]); no domain rule is repeated here.
 */
(function () {
  "use strict";
  const C = (window.cityops = window.cityops || {});
  C.state = C.state || { traffic: {}, air: {} };
  C.layers = C.layers || { traffic: {}, air: {} };
  C.lastSeen = C.lastSeen || {};
  // Measurement hooks (bench/wall.py reads them): per-delta handler time, and when each entity's
  // value last reached the screen.
  C.perf = C.perf || { applied: [], handlerMs: [], lastValue: {}, lastAt: {} };

  // Okabe-Ito colours (colour-blind safe); every class also differs in width / radius / dash.
  const LINK = {
    free: { color: "#56B4E9", weight: 2, opacity: 0.9, dashArray: null },
    slow: { color: "#E69F00", weight: 3.5, opacity: 0.95, dashArray: null },
    congested: { color: "#FF5A36", weight: 5, opacity: 1, dashArray: null },
    flagged: { color: "#9AA0A6", weight: 3, opacity: 0.9, dashArray: "4 6" },
    none: { color: "#4A5568", weight: 1.5, opacity: 0.7, dashArray: "1 4" },
  };
  const AIR = {
    good: { fillColor: "#3B8BEB", radius: 5, color: "#0B1220", weight: 1, dashArray: null },
    moderate: { fillColor: "#2BB673", radius: 6, color: "#0B1220", weight: 1, dashArray: null },
    unhealthy: { fillColor: "#F2C200", radius: 8, color: "#0B1220", weight: 1.5, dashArray: null },
    very_unhealthy: { fillColor: "#FF3B30", radius: 10, color: "#FFFFFF", weight: 2.5, dashArray: null },
    flagged: { fillColor: "#9AA0A6", radius: 6, color: "#FFFFFF", weight: 2, dashArray: "2 3" },
    none: { fillColor: "#4A5568", radius: 4, color: "#0B1220", weight: 1, dashArray: null },
    // US EPA AQI categories (the air page's setting): EPA's colours, the radius grows with the band.
    us_good: { fillColor: "#00E400", radius: 5, color: "#0B1220", weight: 1, dashArray: null },
    us_moderate: { fillColor: "#FFFF00", radius: 6, color: "#0B1220", weight: 1, dashArray: null },
    us_unhealthy_sensitive: { fillColor: "#FF7E00", radius: 7, color: "#0B1220", weight: 1.5, dashArray: null },
    us_unhealthy: { fillColor: "#FF0000", radius: 8, color: "#FFFFFF", weight: 1.5, dashArray: null },
    us_very_unhealthy: { fillColor: "#8F3F97", radius: 10, color: "#FFFFFF", weight: 2.5, dashArray: null },
    us_hazardous: { fillColor: "#7E0023", radius: 12, color: "#FFFFFF", weight: 3, dashArray: null },
  };
  const BUS = { radius: 2.5, color: "#0B1220", weight: 0.5, fillColor: "#F4F4F4", fillOpacity: 0.95 };
  C.LINK = LINK;
  C.AIR = AIR;

  // Lines and dots grow with the screen (a 4K wall has twice the CSS pixels of a 1080p one).
  const SCALE = Math.max(1, Math.min(window.innerWidth / 1920, window.innerHeight / 1080));
  function scaled(style) {
    const out = Object.assign({}, style);
    if (out.weight) out.weight *= SCALE;
    if (out.radius) out.radius *= SCALE;
    return out;
  }
  const LINK_S = {}, AIR_S = {};
  Object.keys(LINK).forEach(function (k) { LINK_S[k] = scaled(LINK[k]); });
  Object.keys(AIR).forEach(function (k) { AIR_S[k] = scaled(Object.assign({ fillOpacity: 0.9, opacity: 1 }, AIR[k])); });
  function linkStyle(cls) { return LINK_S[cls] || LINK_S.none; }
  function airStyle(cls) { return AIR_S[cls] || AIR_S.none; }

  C.map = {
    district: function () {
      return { color: "#7F8FA9", weight: 1.5, opacity: 0.9, fillColor: "#162032", fillOpacity: 0.55 };
    },
    linkStyle: function (feature) {
      const s = C.state.traffic[feature.id];
      return linkStyle(s && s[0]);
    },
    airPoint: function (feature, latlng, context) {
      const domain = (context && context.hideout && context.hideout.domain) || "air";
      const s = (C.state[domain] || {})[feature.id];
      return L.circleMarker(latlng, airStyle(s && s[0]));
    },
    busPoint: function (feature, latlng) {
      return L.circleMarker(latlng, BUS);
    },
    alertPoint: function (feature, latlng) {
      const sev = (feature.properties || {}).severity || "minor";
      const big = sev === "critical" ? 12 : sev === "major" ? 10 : 8;
      return L.circleMarker(latlng, { radius: big, color: "#FFFFFF", weight: 3, fillColor: "#CC79A7", fillOpacity: 1 });
    },
    register: function (feature, layer, context) {
      const domain = context && context.hideout && context.hideout.domain;
      if (!domain) return;
      const reg = (C.layers[domain] = C.layers[domain] || {});
      (reg[feature.id] = reg[feature.id] || []).push(layer);
      layer.feature = feature;
    },
  };

  function restyle(domain, id, wire) {
    const layers = C.layers[domain] && C.layers[domain][id];
    if (!layers) return 0;
    if (domain === "bus") return move(layers, wire);
    const style = domain === "traffic" ? linkStyle(wire && wire[0]) : airStyle(wire && wire[0]);
    let n = 0;
    for (let i = layers.length - 1; i >= 0; i--) {
      const layer = layers[i];
      if (!layer._map) { layers.splice(i, 1); continue; }  // its map was unmounted
      layer.setStyle(style);
      if (style.radius && layer.setRadius) layer.setRadius(style.radius);
      n++;
    }
    return n;
  }

  /* A bus delta ([lat, lon, route]) moves its marker; a bus without a position stays put. */
  function move(layers, wire) {
    if (!wire || wire[0] == null || wire[1] == null) return 0;
    let n = 0;
    for (let i = layers.length - 1; i >= 0; i--) {
      if (!layers[i]._map) { layers.splice(i, 1); continue; }
      layers[i].setLatLng([wire[0], wire[1]]);
      n++;
    }
    return n;
  }

  /* The whole state of a domain (a page's first snapshot): replace and restyle everything. */
  C.setState = function (domain, state) {
    C.state[domain] = Object.assign({}, state || {});
    const reg = C.layers[domain] || {};
    for (const id in reg) restyle(domain, id, C.state[domain][id]);
  };

  /* One live delta: merge and restyle only the changed entities. */
  C.applyDelta = function (msg) {
    if (!msg || !msg.domain) return 0;
    const t0 = performance.now();
    const domain = msg.domain;
    if (msg.sent_at) C.lastSeen[domain] = Math.max(C.lastSeen[domain] || 0, msg.sent_at);
    const changes = msg.changes || {};
    let n = 0;
    if (C.state[domain]) {
      const st = C.state[domain];
      for (const id in changes) {
        const before = st[id];
        st[id] = changes[id];
        // Restyle only when the class moved (a bus always moves): most readings keep their class.
        if (domain === "bus" || !before || before[0] !== changes[id][0]) restyle(domain, id, changes[id]);
        C.perf.lastValue[domain + ":" + id] = changes[id][1];
        C.perf.lastAt[domain + ":" + id] = Date.now();
        n++;
      }
    }
    const ms = performance.now() - t0;
    C.perf.handlerMs.push(ms);
    C.perf.applied.push({ domain: domain, at: Date.now(), sent_at: msg.sent_at, n: n });
    if (C.perf.applied.length > 2000) C.perf.applied.splice(0, 1000);
    if (C.perf.handlerMs.length > 2000) C.perf.handlerMs.splice(0, 1000);
    return n;
  };

  // Server callbacks (KPI tiles) refresh on a throttled tick: at most once a second, trailing.
  let tickTimer = null, lastTick = 0, tickCount = 0;
  function bumpTick() {
    const now = Date.now();
    const fire = function () {
      lastTick = Date.now(); tickTimer = null; tickCount++;
      window.dash_clientside.set_props("live-tick", { data: tickCount });
    };
    if (now - lastTick >= 1000 && !tickTimer) { fire(); return; }
    if (!tickTimer) tickTimer = setTimeout(fire, Math.max(0, 1000 - (now - lastTick)));
  }

  // Dash renders a dict id as JSON with its keys sorted.
  function sortKeys(obj) {
    const out = {};
    Object.keys(obj).sort().forEach(function (k) { out[k] = obj[k]; });
    return out;
  }

  function fmtAge(seconds, L) {
    if (seconds < 60) return Math.round(seconds) + " " + L.s;
    if (seconds < 3600) return Math.round(seconds / 60) + " " + L.min;
    return (seconds / 3600).toFixed(1) + " " + L.h;
  }
  function fmtTime(unix, cfg, withSeconds) {
    const opts = { timeZone: cfg.tz, hour: "2-digit", minute: "2-digit", hourCycle: "h23" };
    if (withSeconds) opts.second = "2-digit";
    return new Intl.DateTimeFormat("en-GB", opts).format(new Date(unix * 1000));
  }

  /* The console's chime: a short two-tone made here (WebAudio, no file to load). Muting is this
   * browser's choice (localStorage). `window.cityopsAlertChimes` counts the chimes played, so a
   * test can see one happened without speakers. */
  const MUTE_KEY = "cityops.chime.muted";
  function muted() { try { return window.localStorage.getItem(MUTE_KEY) === "1"; } catch (e) { return false; } }
  function setMuted(on) { try { window.localStorage.setItem(MUTE_KEY, on ? "1" : "0"); } catch (e) { /* private mode */ } }
  function audio() {
    const Ctx = window.AudioContext || window.webkitAudioContext;
    if (!Ctx) return null;
    C.audio = C.audio || new Ctx();
    return C.audio;
  }
  C.playChime = function () {
    window.cityopsAlertChimes = (window.cityopsAlertChimes || 0) + 1;
    try {
      const ctx = audio();
      if (!ctx) return;
      if (ctx.state === "suspended") ctx.resume();
      [[0, 880], [0.22, 660], [0.44, 880]].forEach(function (n) {
        const osc = ctx.createOscillator(), gain = ctx.createGain();
        osc.frequency.value = n[1];
        gain.gain.setValueAtTime(0.0001, ctx.currentTime + n[0]);
        gain.gain.exponentialRampToValueAtTime(0.25, ctx.currentTime + n[0] + 0.02);
        gain.gain.exponentialRampToValueAtTime(0.0001, ctx.currentTime + n[0] + 0.18);
        osc.connect(gain); gain.connect(ctx.destination);
        osc.start(ctx.currentTime + n[0]); osc.stop(ctx.currentTime + n[0] + 0.2);
      });
    } catch (e) { /* no audio device: the header notice still shows it */ }
  };
  function soundButton(L) {
    if (muted()) return [L.sound_off, "shell-sound is-off"];
    if (C.audio && C.audio.state === "suspended") return [L.sound_blocked, "shell-sound is-blocked"];
    return [L.sound_on, "shell-sound is-on"];
  }

  window.dash_clientside = Object.assign({}, window.dash_clientside, {
    cityops: {
      /* Socket events → map restyle + throttled tick. */
      onDelta: function () {
        const trig = (window.dash_clientside.callback_context.triggered || [])[0];
        if (!trig || !trig.value) return window.dash_clientside.no_update;
        C.applyDelta(trig.value);
        bumpTick();
        return Date.now();
      },
      /* A map's snapshot store → the whole state of that domain. */
      setState: function (data, ids) {
        (data || []).forEach(function (d, i) { if (d) C.setState(ids[i].domain, d); });
        return Date.now();
      },
      connection: function (connected, cfg) {
        const L = (cfg && cfg.labels) || {};
        if (connected === true) { C.everConnected = true; return [L.connected, "live-state is-connected"]; }
        if (!C.everConnected) return [L.connecting, "live-state is-connecting"];
        return [L.reconnecting, "live-state is-reconnecting"];
      },
      clock: function (_n, cfg) {
        if (!cfg) return window.dash_clientside.no_update;
        const now = Date.now() / 1000;
        const date = new Intl.DateTimeFormat("en-CA", { timeZone: cfg.tz, year: "numeric", month: "2-digit", day: "2-digit" })
          .format(new Date(now * 1000));
        return date + " " + fmtTime(now, cfg, true) + " " + cfg.tzLabel;
      },
      /* Every staleness badge: "updated 12 s ago" or "stale since 14:05", each second. */
      ages: function (_n, feeds, cfg, ids) {
        if (!cfg || !ids) return [[], []];
        const L = cfg.labels;
        const f = (feeds && feeds.feeds) || {};
        const skew = feeds && feeds.server_now ? feeds.server_now - feeds.client_now : 0;
        const now = Date.now() / 1000 + skew;
        const texts = [], classes = [];
        ids.forEach(function (id) {
          const info = f[id.domain] || {};
          const last = Math.max(info.last || 0, C.lastSeen[id.domain] || 0) || null;
          const interval = info.interval || 120;
          if (!last) { texts.push(L.no_data); classes.push("stale-badge is-stale"); return; }
          const age = Math.max(0, now - last);
          if (age > 2 * interval) {
            texts.push(L.stale_since.split("{time}").join(fmtTime(last, cfg, false)));
            classes.push("stale-badge is-stale");
          } else {
            texts.push(L.updated_ago.split("{age}").join(fmtAge(age, L)));
            classes.push("stale-badge is-fresh");
          }
        });
        // Grey a panel when all its data is stale (a panel showing a fresh and a stale feed keeps
        // its colours; the stale badge itself says which). Done here, not by a CSS :has() rule,
        // which the browser re-evaluates on every DOM change of the page.
        const stalePanels = new Map();
        ids.forEach(function (id, i) {
          const el = document.getElementById(JSON.stringify(sortKeys(id)));
          const panel = el && el.closest(".panel");
          const stale = classes[i].indexOf("is-stale") >= 0;
          if (panel) stalePanels.set(panel, stalePanels.has(panel) ? stalePanels.get(panel) && stale : stale);
        });
        stalePanels.forEach(function (stale, panel) {
          if (panel.classList.contains("is-stale") !== stale) panel.classList.toggle("is-stale", stale);
        });
        return [texts, classes];
      },
      /* A console's alerts delta, a click on the notice (clear it) or on the sound switch. */
      chime: function (delta, _alarmClicks, _soundClicks, seen, cfg) {
        const nu = window.dash_clientside.no_update;
        const L = (cfg && cfg.labels) || {};
        if (!L.critical) return [nu, nu, nu, nu, nu];  // not a console (the wall has no chime)
        const trig = ((window.dash_clientside.callback_context.triggered || [])[0] || {}).prop_id || "";
        if (trig.indexOf("shell-alarm") === 0) return [nu, "", "shell-alarm is-quiet"].concat(soundButton(L));
        if (trig.indexOf("shell-sound") === 0) {
          // A click lets the browser play sound on this page: a blocked switch is unblocked,
          // otherwise the click mutes or unmutes.
          const ctx = audio();
          if (ctx && ctx.state === "suspended" && !muted()) {
            return Promise.resolve(ctx.resume()).then(function () { return [nu, nu, nu].concat(soundButton(L)); });
          }
          setMuted(!muted());
          if (ctx && ctx.state === "suspended") ctx.resume();
          return [nu, nu, nu].concat(soundButton(L));
        }
        const known = new Set(seen || []);
        const changes = (delta && delta.changes) || {};
        const fresh = [];
        Object.keys(changes).forEach(function (id) {
          const a = changes[id] || {};
          if (a.severity === "critical" && a.state === "open" && !known.has(id)) fresh.push(id);
          if (a.severity === "critical") known.add(id);
        });
        if (!fresh.length) return [Array.from(known).slice(-2000), nu, nu, nu, nu];
        if (!muted()) C.playChime();
        const text = L.critical.split("{id}").join(fresh.join(", #"));
        return [Array.from(known).slice(-2000), text, "shell-alarm is-ringing"].concat(soundButton(L));
      },
      /* Stamp the feeds poll with the browser's time, to correct clock skew. */
      stampFeeds: function (feeds) {
        if (!feeds) return window.dash_clientside.no_update;
        return Object.assign({}, feeds, { client_now: Date.now() / 1000 });
      },
    },
  });
})();
