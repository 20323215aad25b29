// SealpostClient in Node: the runtime-neutral client (client.ts) on the Node platform (platform.node.ts).
import { SealpostClient as Client } from './client.js';
import type { ClientPlatform } from './platform.js';
import { nodePlatform } from './platform.node.js';

export class SealpostClient extends Client {
  protected static override platform(): ClientPlatform {
    return nodePlatform;
  }
}
