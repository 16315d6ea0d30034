/**
 * What a call threw or a promise rejected with, asserted to be of the expected class and handed
 * back for the test's own checks (code, message, fields). A call that returns instead fails the
 * test, so a check written after it can never pass vacuously.
 */

type ErrorClass<E> = abstract new (...args: never[]) => E;

/** Runs f, which must throw an instance of `type`, and returns that error. */
export function thrownBy<E>(type: ErrorClass<E>, f: () => unknown): E {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(type);
    return e as E;
  }
  throw new Error(`expected a ${type.name} to be thrown`);
}

/** Awaits p, which must reject with an instance of `type`, and returns that error. */
export async function rejectedWith<E>(type: ErrorClass<E>, p: Promise<unknown>): Promise<E> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(type);
    return e as E;
  }
  throw new Error(`expected a rejection with a ${type.name}`);
}
