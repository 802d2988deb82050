/**
 * Where a function's sidecar listens, and the token it asks for. Every call
 * to daprd (publish, state, invoke, jobs; the SDK and the plain HTTP clients
 * alike) carries `dapr-api-token` when the sidecar was started with
 * DAPR_API_TOKEN, so a call without it is refused (401) by the sidecar.
 */
export interface SidecarAddress {
  daprHost: string;
  daprPort: number;
  /** DAPR_API_TOKEN: the token the sidecar requires on its API. */
  apiToken?: string | undefined;
}

export const sidecarHeaders = (sidecar: SidecarAddress): Record<string, string> =>
  sidecar.apiToken ? { "dapr-api-token": sidecar.apiToken } : {};

export const sidecarUrl = (sidecar: SidecarAddress, path: string): string => `http://${sidecar.daprHost}:${sidecar.daprPort}${path}`;
