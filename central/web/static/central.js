// The central console's live alarms: server-sent events from /alarms/stream add and update
// rows of #live-alarms; the acknowledge buttons post with the session's CSRF token.
// All texts come from the page (#texts), in the page's language.
(function () {
  "use strict";
  var texts = JSON.parse(document.getElementById("texts").textContent);
  var csrf = document.querySelector("meta[name=csrf-token]").content;
  var mayAck = document.body.dataset.mayAck === "1";

  function cell(text, cls) {
    var td = document.createElement("td");
    if (cls) { td.className = cls; }
    td.textContent = text == null ? "" : String(text);
    return td;
  }

  function ackButton(id) {
    var b = document.createElement("button");
    b.type = "button";
    b.className = "ack";
    b.dataset.alarmId = id;
    b.textContent = texts["alarms.ack"];
    return b;
  }

  function stateCell(a) {
    var td = document.createElement("td");
    td.className = "alarm-state";
    if (a.open) {
      td.appendChild(document.createTextNode(texts["alarms.open"] + " "));
      if (mayAck) { td.appendChild(ackButton(a.id)); }
    } else {
      td.appendChild(document.createTextNode(texts["alarms.acked"] + " " + texts["alarms.acked_by"] + " "));
      var who = document.createElement("span");
      who.className = "acked-by";
      who.textContent = a.acked_by_name || a.acked_by || "";
      who.title = a.acked_by || "";
      td.appendChild(who);
    }
    return td;
  }

  function row(a) {
    var tr = document.createElement("tr");
    tr.dataset.alarmId = a.id;
    tr.className = a.open ? "open" : "acked";
    tr.appendChild(cell(a.when));
    tr.appendChild(cell(a.site));
    tr.appendChild(cell(a.device));
    tr.appendChild(cell(a.kind_label, "alarm-kind"));
    var item = cell("", "alarm-item");
    if (a.title) {
      var title = document.createElement("span");
      title.className = "alarm-title";
      title.textContent = a.title;
      item.appendChild(title);
      item.appendChild(document.createTextNode(" "));
    }
    item.appendChild(document.createTextNode(a.item || a.uid || ""));
    tr.appendChild(item);
    tr.appendChild(cell(a.details, "alarm-message"));
    tr.appendChild(stateCell(a));
    return tr;
  }

  function show(a) {
    var tables = document.querySelectorAll("table.alarms tbody");
    tables.forEach(function (body) {
      var old = body.querySelector("tr[data-alarm-id='" + a.id + "']");
      if (old) {
        old.replaceWith(row(a));
      } else if (body.closest("#live-alarms")) {
        body.insertBefore(row(a), body.firstChild);
      }
    });
  }

  function acknowledge(id, button) {
    button.disabled = true;
    fetch("/api/alarms/" + id + "/ack", {
      method: "POST", credentials: "same-origin",
      headers: {"X-CSRF-Token": csrf, "Accept": "application/json"}
    }).then(function (r) {
      if (!r.ok) { throw new Error(r.status); }
      return r.json();
    }).then(show).catch(function () {
      button.disabled = false;
      window.alert(texts["alarms.ack_failed"]);
    });
  }

  document.addEventListener("click", function (ev) {
    var b = ev.target.closest("button.ack");
    if (!b) { return; }
    ev.preventDefault();
    acknowledge(b.dataset.alarmId, b);
  });

  var live = document.getElementById("live");
  if (live && window.EventSource) {
    var source = new EventSource("/alarms/stream?after=" + encodeURIComponent(live.dataset.after));
    source.onopen = function () {
      live.dataset.live = "1";
      live.textContent = live.dataset.textOn;
    };
    source.onerror = function () {
      live.dataset.live = "0";
      live.textContent = live.dataset.textOff;
    };
    source.addEventListener("alarm", function (ev) {
      var a = JSON.parse(ev.data);
      live.dataset.after = String(Math.max(Number(live.dataset.after), a.id));
      show(a);
    });
  }
})();
