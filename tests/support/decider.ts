// Given past events, when a command arrives (with its context: the moment, the segments it names),
// then these events or this error: the one way both aggregates' unit tests speak.
export interface Decider<State, Event, Command, Context> {
  initial: State;
  evolve(state: State, event: Event): State;
  decide(command: Command, state: State, context: Context): Event[];
}

export function givenFor<State, Event, Command, Context>(decider: Decider<State, Event, Command, Context>) {
  return (history: Event[]) => {
    const state = history.reduce((current, event) => decider.evolve(current, event), decider.initial);
    return {
      when(command: Command, context: Context) {
        const decide = () => decider.decide(command, state, context);
        return {
          then(expected: Event[]) {
            expect(decide()).toEqual(expected);
          },
          thenThrows<E extends Error>(errorClass: new (...args: never[]) => E, check?: (error: E) => void) {
            let thrown: unknown;
            try {
              decide();
            } catch (error) {
              thrown = error;
            }
            expect(thrown).toBeInstanceOf(errorClass);
            check?.(thrown as E);
          },
        };
      },
    };
  };
}
