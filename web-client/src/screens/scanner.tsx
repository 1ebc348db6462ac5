/** Scans a QR code with the device's camera, where the browser can (the Barcode Detection API:
 * Chrome and Edge on Android, among others). Elsewhere the button is not shown and people compare
 * the digits instead. The camera runs only while the scanner is open. */
import { useEffect, useRef, useState } from 'preact/hooks';
import { t } from '../i18n/index.js';

interface DetectedBarcode {
  rawValue: string;
}
interface BarcodeDetectorLike {
  detect(source: HTMLVideoElement): Promise<DetectedBarcode[]>;
}
type BarcodeDetectorCtor = new (opts: { formats: string[] }) => BarcodeDetectorLike;

function detectorCtor(): BarcodeDetectorCtor | undefined {
  const ctor = (globalThis as { BarcodeDetector?: BarcodeDetectorCtor }).BarcodeDetector;
  return ctor && typeof navigator !== 'undefined' && typeof navigator.mediaDevices?.getUserMedia === 'function' ? ctor : undefined;
}

export function canScan(): boolean {
  return detectorCtor() !== undefined;
}

/** Calls `onResult` with the first QR code's text, then stops the camera. */
export function QrScanner({ onResult, onClose }: { onResult: (text: string) => void; onClose: () => void }) {
  const video = useRef<HTMLVideoElement>(null);
  const [failed, setFailed] = useState(false);
  useEffect(() => {
    const Ctor = detectorCtor();
    if (!Ctor) return;
    let stream: MediaStream | undefined;
    let timer: ReturnType<typeof setTimeout> | undefined;
    let live = true;
    const detector = new Ctor({ formats: ['qr_code'] });
    const tick = async () => {
      if (!live || !video.current) return;
      try {
        const found = await detector.detect(video.current);
        if (found[0] && live) {
          live = false;
          onResult(found[0].rawValue);
          return;
        }
      } catch {
        // A frame that is not ready yet: the next one is tried.
      }
      timer = setTimeout(() => void tick(), 250);
    };
    navigator.mediaDevices
      .getUserMedia({ video: { facingMode: 'environment' }, audio: false })
      .then(async (s) => {
        stream = s;
        if (!live || !video.current) return;
        video.current.srcObject = s;
        await video.current.play();
        void tick();
      })
      .catch(() => setFailed(true));
    return () => {
      live = false;
      clearTimeout(timer);
      for (const track of stream?.getTracks() ?? []) track.stop();
    };
  }, []);
  return (
    <div class="scr-scanner">
      {failed ? <p role="alert">{t('safety.cameraFailed')}</p> : <video ref={video} class="scr-scanner-video" muted playsInline aria-label={t('safety.cameraLabel')} />}
      <button type="button" class="button" onClick={onClose}>
        {t('safety.scanStop')}
      </button>
    </div>
  );
}
