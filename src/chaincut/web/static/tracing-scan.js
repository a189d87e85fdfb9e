// The case's warnings page: read a basic venue's tracing code off its owner's sheet (or a photo of
// it on the owner's phone) with this computer's camera, into the form. Nothing is sent until the
// tracer proposes the warning; the code is not kept.
import { scan } from "/static/scanner.js";

const PREFIX = "CROWDNOTIFIER-TRACE:3:";
const start = document.getElementById("code-scan");
const stop = document.getElementById("code-scan-stop");
const video = document.getElementById("code-video");
const status = document.getElementById("code-scan-status");
const field = document.getElementById("warn-code");

start.hidden = false;
start.addEventListener("click", async () => {
  start.hidden = true;
  video.hidden = false;
  stop.hidden = false;
  status.textContent = status.dataset.scanning;
  try {
    const text = await scan(video, stop, (seen) => {
      if (!seen.startsWith(PREFIX)) status.textContent = status.dataset.notCode;
      return seen.startsWith(PREFIX);
    });
    if (text) {
      field.value = text;
      status.textContent = status.dataset.read;
    } else {
      status.textContent = "";
    }
  } catch {
    status.textContent = status.dataset.failed;
  } finally {
    start.hidden = false;
    video.hidden = true;
    stop.hidden = true;
  }
});
