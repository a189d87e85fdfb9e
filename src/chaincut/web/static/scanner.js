// Reads QR codes from the phone's camera with ZXing-C++ (zxing-wasm, vendored: no CDN).
// Loaded only when a page opens the camera: the poster's own address needs none of it.

let reader = null;

function loadReader() {
  reader =
    reader ||
    new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = "/static/vendor/zxing-reader.js";
      script.onload = () => {
        // The wasm comes from this server too, never from the library's default CDN.
        window.ZXingWASM.prepareZXingModule({
          overrides: { locateFile: (path) => `/static/vendor/${path}` },
          fireImmediately: true,
        }).then(() => resolve(window.ZXingWASM), reject);
      };
      script.onerror = reject;
      document.head.append(script);
    }).catch((error) => {
      reader = null; // the next scan tries again
      throw error;
    });
  return reader;
}

// Scan until `accept(text)` says yes (answer that text) or `stop` is clicked (answer null).
export async function scan(video, stop, accept) {
  const stream = await navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false });
  let zxing;
  try {
    zxing = await loadReader();
  } catch (error) {
    stream.getTracks().forEach((track) => track.stop());
    throw error;
  }
  video.srcObject = stream;
  await video.play();
  const canvas = document.createElement("canvas");
  const context = canvas.getContext("2d", { willReadFrequently: true });
  let stopped = false;
  const end = () => {
    stopped = true;
    stream.getTracks().forEach((track) => track.stop());
    video.srcObject = null;
  };
  stop.addEventListener("click", end, { once: true });
  try {
    while (!stopped) {
      if (video.videoWidth) {
        canvas.width = video.videoWidth;
        canvas.height = video.videoHeight;
        context.drawImage(video, 0, 0);
        const frame = context.getImageData(0, 0, canvas.width, canvas.height);
        const found = await zxing.readBarcodes(frame, { formats: ["QRCode"], tryHarder: true, maxNumberOfSymbols: 1 });
        const text = found.length && found[0].isValid ? found[0].text : null;
        if (text && accept(text)) return text;
      }
      await new Promise((resolve) => setTimeout(resolve, 150));
    }
    return null;
  } finally {
    if (!stopped) end();
  }
}
