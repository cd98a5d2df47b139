// The `express4` dev alias (npm:express@4) runs the shared tests on Express 4; its API is typed as 5's.
declare module 'express4' {
  import express from 'express'
  export default express
}
