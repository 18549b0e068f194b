/* smartlib staff console: plain JS, no build step. Data from GET /staff/state (staff
   token) and live updates from the WebSocket /events?token= (this box) and from
   GET /staff/site-version, polled every 2 s (the other boxes of the site, as the sync
   agent stores them). Text is set with textContent only (never innerHTML with data). */
"use strict";
(function () {
  const T = {
    vi: {
      title: "Bàn thủ thư", token_label: "Hoặc mã truy cập chung (cũ)", login: "Đăng nhập",
      logout: "Đăng xuất", gate_reset: "Tắt còi cổng", today: "Hôm nay", loans: "Lượt mượn",
      returns: "Lượt trả", renewals: "Gia hạn", visitors_in: "Khách vào", visitors_out: "Khách ra",
      alarms_today: "Báo động", alarms: "Báo động", time: "Thời gian", gate: "Cổng",
      direction: "Hướng", item: "Tài liệu", reason: "Lý do", state: "Trạng thái",
      no_alarms: "Không có báo động.", devices: "Thiết bị", device: "Thiết bị", kind: "Loại",
      failures: "Lỗi đầu đọc", detail: "Chi tiết", backlog: "Giao dịch chờ gửi",
      conflicts: "Xung đột", no_conflicts: "Không có xung đột.", attempts: "Lần gửi",
      ack: "Xác nhận", acked: "Đã xác nhận", new: "Mới", in: "Vào", out: "Ra",
      unknown: "Không rõ", online: "Trực tuyến", offline: "Mất kết nối",
      live: "Trực tiếp", not_live: "Mất cập nhật", gateway_label: "Máy chủ",
      cache_offline: "quyết định theo bộ đệm cũ (mất kết nối)", transaction: "giao dịch",
      task: "tác vụ an ninh", bad_token: "Mã truy cập không đúng.",
      username_label: "Tên đăng nhập", password_label: "Mật khẩu",
      bad_login: "Sai tên đăng nhập hoặc mật khẩu.",
      not_allowed: "Vai trò của bạn chỉ được xem, không được thao tác.",
      backlog_summary: "{n} giao dịch chờ; cũ nhất: {t}", backlog_none: "Không có giao dịch chờ.",
      reset_done: "Đã tắt còi.", configured: "Đã cấu hình", alarm_active: "đang báo động",
      unidentified: "Không nhận diện được tài liệu", uid: "UID", error: "lỗi",
      backlog_n: "{n} giao dịch chờ", reader: "đầu đọc", ack_elsewhere: "xác nhận tại {box}",
      processes: "Tiến trình", process: "Tiến trình", restarts: "Khởi động lại",
      last_start: "Khởi động lúc", last_exit: "Lần dừng gần nhất",
      kind_gate: "Cổng an ninh", kind_kiosk: "Máy mượn trả", kind_gateway: "Máy chủ kết nối",
      kind_staff: "Bàn thủ thư", kind_device: "Thiết bị", kind_rfid_reader: "Đầu đọc RFID",
      kind_card_reader: "Đầu đọc thẻ", kind_barcode_scanner: "Máy quét mã vạch",
      kind_printer: "Máy in", proc_starting: "Đang khởi động", proc_running: "Đang chạy",
      proc_restarting: "Đang khởi động lại", proc_held: "Tạm dừng", proc_unknown: "Không rõ",
      tx_checkout: "Mượn", tx_checkin: "Trả", tx_renew: "Gia hạn", tx_offline: "ngoại tuyến",
      tx_pending: "Chờ gửi", tx_sent: "Đã gửi, chờ trả lời",
      exit_killed: "bị dừng bởi {sig}", exit_status: "thoát với mã {n}",
      exit_watchdog: "treo: không báo sống (watchdog) trong {s} giây",
    },
    en: {
      title: "Staff console", token_label: "Or the shared staff token (deprecated)", login: "Log in",
      logout: "Log out", gate_reset: "Silence gate", today: "Today", loans: "Loans",
      returns: "Returns", renewals: "Renewals", visitors_in: "Visitors in",
      visitors_out: "Visitors out", alarms_today: "Alarms", alarms: "Alarms", time: "Time",
      gate: "Gate", direction: "Direction", item: "Item", reason: "Reason", state: "State",
      no_alarms: "No alarms.", devices: "Devices", device: "Device", kind: "Kind",
      failures: "Reader failures", detail: "Detail", backlog: "Offline backlog",
      conflicts: "Conflicts", no_conflicts: "No conflicts.", attempts: "Attempts",
      ack: "Acknowledge", acked: "Acknowledged", new: "New", in: "In", out: "Out",
      unknown: "Unknown", online: "Online", offline: "Offline", live: "Live",
      not_live: "Not live", gateway_label: "Gateway",
      cache_offline: "decided on the last cache (offline)", transaction: "transaction",
      task: "security task", bad_token: "The token is not valid.",
      username_label: "User name", password_label: "Password",
      bad_login: "Wrong user name or password.",
      not_allowed: "Your role may look but not act.",
      backlog_summary: "{n} waiting; oldest: {t}", backlog_none: "Nothing waiting.",
      reset_done: "Gate silenced.", configured: "Configured", alarm_active: "alarm on",
      unidentified: "Item not identified", uid: "UID", error: "error",
      backlog_n: "{n} waiting", reader: "reader", ack_elsewhere: "acknowledge at {box}",
      processes: "Processes", process: "Process", restarts: "Restarts",
      last_start: "Started", last_exit: "Last exit",
      kind_gate: "Security gate", kind_kiosk: "Kiosk", kind_gateway: "Gateway",
      kind_staff: "Staff desk", kind_device: "Device", kind_rfid_reader: "RFID reader",
      kind_card_reader: "Card reader", kind_barcode_scanner: "Barcode scanner",
      kind_printer: "Printer", proc_starting: "Starting", proc_running: "Running",
      proc_restarting: "Restarting", proc_held: "Held", proc_unknown: "Unknown",
      tx_checkout: "Checkout", tx_checkin: "Return", tx_renew: "Renewal", tx_offline: "offline",
      tx_pending: "Waiting to send", tx_sent: "Sent, awaiting the answer",
      exit_killed: "killed by {sig}", exit_status: "exited with {n}",
      exit_watchdog: "hung: no watchdog ping for {s} s",
    },
  };
  const $ = (sel) => document.querySelector(sel);
  let lang = localStorage.getItem("smartlib.lang") || document.documentElement.lang || "vi";
  let token = null;
  let state = null;
  let ws = null;
  let refreshTimer = null;
  let stopped = false;
  let siteVersion = null;

  const t = (key) => (T[lang] && T[lang][key]) || T.en[key] || key;
  // A code's text (e.g. named("kind_", "gate")), or the code itself when it has none.
  const named = (prefix, code) =>
    (T[lang] && T[lang][prefix + code]) || T.en[prefix + code] || code;

  function applyLang() {
    document.documentElement.lang = lang;
    document.querySelectorAll("[data-i18n]").forEach((el) => { el.textContent = t(el.dataset.i18n); });
    document.querySelectorAll("button.lang").forEach((b) => b.setAttribute("aria-pressed", String(b.dataset.lang === lang)));
    document.title = "smartlib – " + t("title");
    if (state) render(state);
  }

  function fmtTime(iso) {
    if (!iso) return "";
    const d = new Date(iso);
    return isNaN(d) ? iso : d.toLocaleString(lang === "vi" ? "vi-VN" : "en-GB");
  }

  function cell(tr, text, cls) {
    const td = document.createElement("td");
    if (text instanceof Node) td.appendChild(text); else td.textContent = text == null ? "" : String(text);
    if (cls) td.className = cls;
    tr.appendChild(td);
    return td;
  }

  async function api(path, opts) {
    const res = await fetch(path, Object.assign({}, opts, {
      headers: Object.assign({ Authorization: "Bearer " + token }, (opts && opts.headers) || {}),
    }));
    if (res.status === 401) { logout(t("bad_token")); throw new Error("auth"); }
    if (res.status === 403) {
      if (opts && opts.method && opts.method !== "GET") { alert(t("not_allowed")); throw new Error("forbidden"); }
      logout(t("bad_token")); throw new Error("auth");
    }
    if (!res.ok) throw new Error(path + ": " + res.status);
    return res.json();
  }

  function renderAlarms(alarms) {
    const body = $("#alarms tbody");
    body.replaceChildren();
    let unacked = 0;
    for (const a of alarms) {
      const tr = document.createElement("tr");
      tr.dataset.alarmId = a.id;
      tr.dataset.testid = "alarm";
      tr.className = a.acked_at ? "acked" : "unacked";
      if (!a.acked_at) unacked++;
      cell(tr, fmtTime(a.created_at));
      cell(tr, a.device);
      cell(tr, a.direction ? t(a.direction) : "");
      const item = document.createElement("div");
      const title = document.createElement("strong");
      title.className = "alarm-title";
      title.textContent = a.title || a.item_id || (a.uid ? t("unidentified") : "?");
      item.appendChild(title);
      if (a.item_id) item.appendChild(document.createTextNode(" · " + a.item_id));
      if (a.owner_library) item.appendChild(document.createTextNode(" · " + a.owner_library));
      if (!a.item_id && a.uid) {
        const u = document.createElement("div");
        u.className = "alarm-uid";
        u.textContent = t("uid") + " " + a.uid + (a.identify_error ? " · " + a.identify_error : "");
        item.appendChild(u);
      }
      cell(tr, item);
      const why = document.createElement("div");
      const r = document.createElement("span");
      r.className = "alarm-reason";
      r.textContent = (a.reason_texts && a.reason_texts[lang]) || a.reason || a.message;
      why.appendChild(r);
      const extra = [];
      if (a.security_state) extra.push("AFI/EAS: " + a.security_state);
      if (a.transaction) extra.push(t("transaction") + " " + String(a.transaction).slice(0, 8));
      if (a.task) extra.push(t("task") + " #" + a.task);
      if (a.cache_offline) extra.push(t("cache_offline"));
      if (a.error) extra.push(t("error") + ": " + a.error);
      if (!a.title && a.kind !== "gate") extra.push(a.message);
      if (extra.length) {
        const d = document.createElement("div");
        d.className = "reason-detail";
        d.textContent = extra.join(" · ");
        why.appendChild(d);
      }
      cell(tr, why);
      cell(tr, a.acked_at ? t("acked") : t("new"), "alarm-state");
      const td = cell(tr, "");
      if (!a.acked_at && a.remote) {
        td.className = "muted";
        td.textContent = t("ack_elsewhere").replace("{box}", a.box);
      } else if (!a.acked_at) {
        const b = document.createElement("button");
        b.type = "button";
        b.className = "ack";
        b.dataset.testid = "ack";
        b.textContent = t("ack");
        b.addEventListener("click", () => ack(a.id, b));
        td.appendChild(b);
      }
      body.appendChild(tr);
    }
    $("#no-alarms").hidden = alarms.length > 0;
    $("#unacked").textContent = unacked ? String(unacked) : "";
  }

  function renderDevices(devices) {
    const body = $("#devices tbody");
    body.replaceChildren();
    for (const d of devices) {
      const tr = document.createElement("tr");
      tr.dataset.device = d.id;
      cell(tr, d.id);
      cell(tr, named("kind_", d.kind));
      const s = document.createElement("span");
      s.className = "badge " + (d.state === "online" || d.state === "offline" ? d.state : "unknown");
      s.textContent = t(d.state);
      cell(tr, s);
      cell(tr, d.failures || 0);
      const extra = [];
      if (d.error) extra.push(d.error);
      if (d.detection) extra.push(d.detection);
      if (d.alarm_active) extra.push(t("alarm_active"));
      if (d.reader) extra.push(t("reader") + ": " + t(d.reader));
      if (d.backlog) extra.push(t("backlog_n").replace("{n}", d.backlog));
      if (d.since) extra.push(fmtTime(d.since));
      cell(tr, extra.join(" · "));
      body.appendChild(tr);
    }
  }

  // The supervisor's last-exit text ("killed by SIGKILL", "exited with 1", "watchdog: no
  // WATCHDOG=1 for 10.0s") in the console's language; anything else as it is.
  function exitText(why) {
    let m = /^killed by (SIG\w+|signal \d+)$/.exec(why);
    if (m) return t("exit_killed").replace("{sig}", m[1]);
    m = /^exited with (-?\d+)$/.exec(why);
    if (m) return t("exit_status").replace("{n}", m[1]);
    m = /^watchdog: no WATCHDOG=1 for ([\d.]+)s$/.exec(why);
    if (m) return t("exit_watchdog").replace("{s}", m[1]);
    return why;
  }

  function renderProcesses(processes) {
    $("#processes-section").hidden = !processes || processes.length === 0;
    const body = $("#processes tbody");
    body.replaceChildren();
    for (const p of processes || []) {
      const tr = document.createElement("tr");
      tr.dataset.process = p.name;
      cell(tr, p.name);
      cell(tr, named("proc_", p.state));
      cell(tr, p.restarts);
      cell(tr, p.last_start ? fmtTime(p.last_start) : "");
      cell(tr, p.last_exit ? exitText(p.last_exit) : "");
      body.appendChild(tr);
    }
  }

  function renderBacklog(b, conflicts) {
    const open = b.open || 0;
    $("#backlog-summary").textContent = open
      ? t("backlog_summary").replace("{n}", open).replace("{t}", fmtTime(b.oldest_open_at))
      : t("backlog_none");
    const body = $("#backlog tbody");
    body.replaceChildren();
    $("#backlog").hidden = !(b.entries && b.entries.length);
    for (const e of b.entries || []) {
      const tr = document.createElement("tr");
      cell(tr, fmtTime(e.created_at));
      cell(tr, named("tx_", e.kind) + (e.offline ? " (" + t("tx_offline") + ")" : ""));
      cell(tr, e.item_id);
      cell(tr, named("tx_", e.state));
      cell(tr, e.attempts);
      body.appendChild(tr);
    }
    const cb = $("#conflicts tbody");
    cb.replaceChildren();
    for (const c of conflicts) {
      const tr = document.createElement("tr");
      tr.dataset.conflictId = c.id;
      cell(tr, fmtTime(c.created_at));
      cell(tr, c.kind);
      cell(tr, c.item_id);
      cell(tr, c.reason);
      cell(tr, Object.entries(c.detail || {}).map(([k, v]) => k + ": " + (typeof v === "object" ? JSON.stringify(v) : v)).join("; "));
      cb.appendChild(tr);
    }
    $("#no-conflicts").hidden = conflicts.length > 0;
  }

  function render(s) {
    $("#site").textContent = s.site.name + " · " + s.device.id;
    const g = $("#gateway");
    g.className = "badge " + s.gateway;
    g.textContent = t("gateway_label") + ": " + t(s.gateway);
    for (const k of ["loans", "returns", "renewals", "visitors_in", "visitors_out", "alarms"]) {
      $("#count-" + k).textContent = String(s.today[k] || 0);
    }
    renderAlarms(s.alarms);
    renderDevices(s.devices);
    renderProcesses(s.processes);
    renderBacklog(s.backlog, s.conflicts);
    $("#gate-reset").hidden = !s.gate;
  }

  async function refresh() {
    refreshTimer = null;
    try {
      state = await api("/staff/state");
      render(state);
    } catch (e) { if (e.message !== "auth") console.warn(e); }
  }

  function scheduleRefresh(ms) {
    if (refreshTimer === null) refreshTimer = setTimeout(refresh, ms == null ? 150 : ms);
  }

  async function ack(id, button) {
    button.disabled = true;
    try { await api("/alarms/" + id + "/ack", { method: "POST" }); } catch (e) { button.disabled = false; }
    scheduleRefresh(0);
  }

  async function pollSite() {
    if (!token || stopped) return;
    try {
      const v = (await api("/staff/site-version")).version;
      if (siteVersion !== null && v !== siteVersion) scheduleRefresh(0);
      siteVersion = v;
    } catch (e) { if (e.message !== "auth") console.warn(e); }
  }

  function setLive(on) {
    const el = $("#live");
    el.className = "badge " + (on ? "online" : "offline");
    el.textContent = on ? t("live") : t("not_live");
    el.dataset.live = on ? "1" : "0";
  }

  function connect() {
    if (stopped || !token) return;
    const proto = location.protocol === "https:" ? "wss:" : "ws:";
    ws = new WebSocket(proto + "//" + location.host + "/events?token=" + encodeURIComponent(token));
    ws.onopen = () => { setLive(true); scheduleRefresh(0); };
    ws.onmessage = (msg) => {
      let ev;
      try { ev = JSON.parse(msg.data); } catch (e) { return; }
      if (ev.type === "alarm" && state && ev.alarm && !state.alarms.some((a) => a.id === ev.alarm.id)) {
        state.alarms.unshift(ev.alarm);
        renderAlarms(state.alarms);
      }
      if (["alarm", "alarm_ack", "counter", "device_status", "connectivity", "item_status",
           "gate_reset", "session_ended"].includes(ev.type)) scheduleRefresh();
    };
    ws.onclose = () => { setLive(false); ws = null; if (!stopped && token) setTimeout(connect, 2000); };
  }

  function start() {
    $("#login").hidden = true;
    $("#console").hidden = false;
    $("#logout").hidden = false;
    setLive(false);
    refresh();
    connect();
    if (!window.__smartlibPoll) window.__smartlibPoll = setInterval(() => { if (token) scheduleRefresh(0); }, 15000);
    if (!window.__smartlibSite) window.__smartlibSite = setInterval(pollSite, 2000);
  }

  function logout(message) {
    token = null;
    sessionStorage.removeItem("smartlib.staff_token");
    if (ws) { stopped = true; ws.close(); }
    $("#console").hidden = true;
    $("#logout").hidden = true;
    $("#login").hidden = false;
    $("#login-error").textContent = message || "";
  }

  document.querySelectorAll("button.lang").forEach((b) => b.addEventListener("click", () => {
    lang = b.dataset.lang;
    localStorage.setItem("smartlib.lang", lang);
    applyLang();
  }));
  $("#logout").addEventListener("click", () => logout(""));
  $("#gate-reset").addEventListener("click", async () => {
    try { await api("/gate/reset", { method: "POST" }); } catch (e) { console.warn(e); }
    scheduleRefresh(0);
  });
  async function logIn(username, password) {
    // A staff account of the central console (cached on the box): a bearer for 8 hours.
    const res = await fetch("/staff/login", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ username: username, password: password }),
    });
    if (res.ok) return { token: (await res.json()).token };
    // a lockout (423 staff_login_locked) says so in the staff member's language
    let texts = null;
    try { texts = ((await res.json()).error || {}).texts || null; } catch (e) { texts = null; }
    return { error: (texts && (texts[lang] || texts.en)) || t("bad_login") };
  }

  $("#login").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const username = $("#username").value.trim();
    if (username) {
      const got = await logIn(username, $("#password").value);
      $("#password").value = "";
      if (!got.token) { $("#login-error").textContent = got.error; return; }
      token = got.token;
    } else {
      token = $("#token").value.trim();  // deprecated: the shared staff token
    }
    if (!token) return;
    sessionStorage.setItem("smartlib.staff_token", token);
    stopped = false;
    start();
  });

  applyLang();
  const fromHash = new URLSearchParams(location.hash.slice(1)).get("token");
  if (fromHash) history.replaceState(null, "", location.pathname);
  token = fromHash || sessionStorage.getItem("smartlib.staff_token");
  if (token) start(); else logout("");
})();
