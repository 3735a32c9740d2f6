/** The part of node-onvif (untyped, CommonJS) that the ANPR driver uses. */
declare module 'node-onvif' {
  interface OnvifProfile {
    token: string;
    name: string;
    snapshot: string;
    stream: { udp: string; http: string; rtsp: string };
  }
  export class OnvifDevice {
    constructor(options: { xaddr: string; user?: string; pass?: string });
    init(): Promise<Record<string, string>>;
    getCurrentProfile(): OnvifProfile | null;
    fetchSnapshot(): Promise<{ headers: Record<string, string>; body: Buffer }>;
  }
  const onvif: { OnvifDevice: typeof OnvifDevice };
  export default onvif;
}
