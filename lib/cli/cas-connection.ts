// A connection to the policy service for the commands that act as an owner (`shield session …`,
// `shield sconify --cas`): the service's address and pinned key fingerprint (options, else
// SHIELD_CAS / SHIELD_CAS_KEY) and the caller's identity (--identity, else SHIELD_IDENTITY, else
// ~/.shieldfs/identity.pem). The policy service's client loads only when a command connects.
import { usageError } from '../file/exit-status.js';

export interface ClientOptions { cas?: string; casKey?: string; identity?: string; json?: boolean }

export async function connect(options: ClientOptions) {
  const { CasClient, checkCasLocation } = await import('../cas/client.js');
  const { readIdentityFile, defaultIdentityPath } = await import('../cas/identity.js');
  let location;
  try {
    location = checkCasLocation(options.cas ?? process.env.SHIELD_CAS, options.casKey ?? process.env.SHIELD_CAS_KEY);
  } catch (error) {
    throw usageError(error);
  }
  const identity = readIdentityFile(options.identity ?? defaultIdentityPath());
  return { client: new CasClient(location, identity), identity };
}

export type Connection = Awaited<ReturnType<typeof connect>>;

/** Runs `run` with a connection, closed afterwards whatever happens. */
export async function withConnection<T>(options: ClientOptions, run: (connection: Connection) => Promise<T>): Promise<T> {
  const connection = await connect(options);
  try {
    return await run(connection);
  } finally {
    connection.client.close();
  }
}
