// Figures from the JSON beside each plot; clicking a point seeks the linked video to its time; the video moves a
// cursor over the timeline; videos in one sync group follow each other (play, pause, seek, rate) in simulated time.
(function () {
  "use strict";
  const config = { displaylogo: false, responsive: true, modeBarButtonsToRemove: ["select2d", "lasso2d"] };

  function scaleOf(video) { return parseFloat(video.dataset.scale || "1") || 1; }
  function simTime(video) { return video.currentTime / scaleOf(video); }
  function seek(video, seconds) {
    if (!video || !Number.isFinite(seconds)) return;
    const t = Math.max(0, seconds * scaleOf(video));
    if (video.readyState === 0) {  // not loaded yet (preload="none"): load, then seek
      video.addEventListener("loadedmetadata", function () { video.currentTime = t; }, { once: true });
      video.preload = "metadata";
      video.load();
      return;
    }
    video.currentTime = t;
  }
  function pointTime(point) {
    const data = Array.isArray(point.customdata) ? point.customdata[0] : point.customdata;
    const t = Number(data === undefined || data === null ? point.x : data);
    return Number.isFinite(t) ? t : null;
  }

  document.querySelectorAll("div.plot").forEach(function (div) {
    const spec = JSON.parse(document.getElementById(div.dataset.figure).textContent);
    const video = div.dataset.video ? document.getElementById(div.dataset.video) : null;
    Plotly.newPlot(div, spec.data, spec.layout, config).then(function (gd) {
      if (video) {
        gd.on("plotly_click", function (event) {
          const point = event.points && event.points[0];
          if (point) seek(video, pointTime(point));
        });
        let pending = false;
        video.addEventListener("timeupdate", function () {
          if (pending) return;
          pending = true;
          const t = simTime(video);
          Plotly.relayout(gd, { "shapes[0].x0": t, "shapes[0].x1": t }).then(function () { pending = false; });
        });
      }
      div.dataset.ready = "1";
    });
  });

  document.querySelectorAll("div.decision").forEach(function (box) {
    const decisions = JSON.parse(document.getElementById(box.dataset.decisions).textContent);
    const video = document.getElementById(box.dataset.video);
    function update() {
      const t = simTime(video);
      let current = null;
      for (const d of decisions) { if (d.time <= t + 1e-6) current = d; else break; }
      box.querySelector(".t").textContent = t.toFixed(1);
      const action = box.querySelector(".action");
      action.textContent = current ? current.action + (current.fallback ? "  (fallback)" : "") : "–";
      action.classList.toggle("fallback", Boolean(current && current.fallback));
      box.querySelector(".reasoning").textContent = current ? current.reasoning || "" : "";
    }
    ["timeupdate", "seeked", "loadedmetadata"].forEach(function (e) { video.addEventListener(e, update); });
    update();
  });

  document.querySelectorAll("button[data-seek]").forEach(function (button) {
    button.addEventListener("click", function () {
      seek(document.getElementById(button.dataset.video), parseFloat(button.dataset.seek));
    });
  });

  const groups = {};
  document.querySelectorAll("video[data-sync]").forEach(function (video) {
    (groups[video.dataset.sync] = groups[video.dataset.sync] || []).push(video);
  });
  Object.values(groups).forEach(function (videos) {
    videos.forEach(function (video) {
      const others = videos.filter(function (o) { return o !== video; });
      video.addEventListener("play", function () { others.forEach(function (o) { if (o.paused) o.play(); }); });
      video.addEventListener("pause", function () { others.forEach(function (o) { if (!o.paused) o.pause(); }); });
      video.addEventListener("ratechange", function () {
        others.forEach(function (o) { if (o.playbackRate !== video.playbackRate) o.playbackRate = video.playbackRate; });
      });
      video.addEventListener("seeked", function () {
        const t = simTime(video);
        others.forEach(function (o) { if (Math.abs(simTime(o) - t) > 0.05) seek(o, t); });
      });
    });
  });
  document.querySelectorAll("button[data-sync-play]").forEach(function (button) {
    button.addEventListener("click", function () {
      const videos = groups[button.dataset.syncPlay] || [];
      const start = videos.length ? simTime(videos[0]) : 0;
      videos.forEach(function (v) { seek(v, start); v.play(); });
    });
  });
})();
