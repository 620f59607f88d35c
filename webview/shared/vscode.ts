/** The webview's handle on the host: typed postMessage and persisted state. */

interface VsCodeApi {
  postMessage(message: unknown): void;
  getState(): unknown;
  setState(state: unknown): void;
}

declare function acquireVsCodeApi(): VsCodeApi;

export interface HostChannel<ToHost, State> {
  post(message: ToHost): void;
  /** the state saved before a hide or reload; unvalidated, so parse it */
  savedState(): unknown;
  saveState(state: State): void;
}

export function connect<ToHost, State>(): HostChannel<ToHost, State> {
  const api = acquireVsCodeApi();
  return {
    post: (message) => api.postMessage(message),
    savedState: () => api.getState(),
    saveState: (state) => api.setState(state),
  };
}

/** Host messages arrive as window message events; anything without a string type is ignored. */
export function onHostMessage(handler: (message: { type: string; seq?: number } & Record<string, unknown>) => void): void {
  window.addEventListener('message', (event: MessageEvent<unknown>) => {
    const data = event.data;
    if (typeof data === 'object' && data !== null && typeof (data as { type?: unknown }).type === 'string') {
      handler(data as { type: string } & Record<string, unknown>);
    }
  });
}
